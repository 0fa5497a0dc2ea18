#include "keys/keys_testing.h"

#include <chrono>

#include "taogate/tao/signing.h"

namespace taogate::keys::testing {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void SwtpmTest::SetUp() {
  if (system("command -v swtpm >/dev/null 2>&1") != 0) GTEST_SKIP() << "swtpm is not installed";
  auto t = Swtpm::Start((dir_.path() / "tpm").string());
  ASSERT_TRUE(t.ok()) << t.status();
  tpm_ = *std::move(t);
}

void SwtpmTest::TearDown() {
  other_.reset();
  tpm_.reset();
}

Swtpm& SwtpmTest::OtherTpm() {
  if (!other_) {
    auto t = Swtpm::Start((dir_.path() / "other-tpm").string());
    EXPECT_TRUE(t.ok()) << t.status();
    if (t.ok()) other_ = *std::move(t);
  }
  return *other_;
}

v1::IssuerCertificateBody CertBody(const std::array<uint8_t, 32>& pub, const RootSigner& root) {
  v1::IssuerCertificateBody b;
  b.set_version(1);
  b.set_issuing_public_key(pub.data(), pub.size());
  auto id = tao::KeyIdOf(pub);
  b.set_issuing_key_id(id.data(), id.size());
  b.set_not_before_ms(NowMs() - 60'000);
  b.set_not_after_ms(NowMs() + 3'600'000);
  b.set_purpose("tao-issuance");
  b.set_counter(1);
  b.set_root_key_id(root.key_id().data(), root.key_id().size());
  b.set_software_mode(root.software_mode());
  b.set_instance("test");
  return b;
}

std::string SignCertBytes(RootSigner& root, const std::string& body_bytes) {
  v1::IssuerCertificate cert;
  cert.set_body(body_bytes);
  std::string msg(kIssuerCertDomain);
  msg.append(body_bytes);
  auto sig = root.Sign(msg);
  EXPECT_TRUE(sig.ok()) << sig.status();
  cert.set_signature(sig.ok() ? *sig : std::string());
  return cert.SerializeAsString();
}

std::string SignCert(RootSigner& root, const v1::IssuerCertificateBody& body) {
  return SignCertBytes(root, body.SerializeAsString());
}

v1::TaoBody TaoBody() {
  v1::TaoBody b;
  b.set_version(1);
  std::string id(16, '\0'), nonce(16, '\0');
  (void)crypto::RandomBytes({reinterpret_cast<uint8_t*>(id.data()), id.size()});
  (void)crypto::RandomBytes({reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()});
  b.set_id(id);
  b.set_nonce(nonce);
  b.set_issuer_key_id(std::string(32, '\0'));  // set by IssuingKey::SignTao
  b.set_actor("spiffe://example.org/agent/reporter");
  b.mutable_binding()->set_node_id("node-a");
  b.mutable_binding()->set_cgroup_id(4242);
  b.set_action_class("db.read");
  b.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  b.mutable_target()->set_address("127.0.0.1");
  b.mutable_target()->set_port(5432);
  b.set_max_uses(1);
  b.set_not_before_ms(NowMs());
  b.set_expires_at_ms(NowMs() + 60'000);
  b.set_policy_bundle_sha256(std::string(32, '\x11'));
  b.set_decision_ledger_index(7);
  return b;
}

TrustBundle BundleOf(const RootSigner& root, bool software) {
  auto b = TrustBundle::FromRoots({TrustedRoot{"test-root", root.public_key(), 0, INT64_MAX, software}});
  EXPECT_TRUE(b.ok()) << b.status();
  return *std::move(b);
}

IssuingKeyOptions TestIssuingOptions() {
  IssuingKeyOptions o;
  o.instance = "test-governor";
  o.certificate_lifetime_ms = 10 * 60'000;
  o.rotate_every_ms = 5 * 60'000;
  o.max_tao_lifetime_ms = 2 * 60'000;
  return o;
}

}  // namespace taogate::keys::testing
