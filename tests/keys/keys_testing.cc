#include "keys/keys_testing.h"

#include "taogate/keys/keys_init.h"

namespace taogate::keys::testing {

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

void InitializedTpmTest::SetUp() {
  SwtpmTest::SetUp();
  if (IsSkipped() || HasFatalFailure()) return;
  KeysInitOptions o;
  o.tcti = tcti();
  ASSERT_TRUE(KeysInit(o).ok());
}

std::unique_ptr<TpmRootSigner> InitializedTpmTest::OpenRoot(int sign_timeout_ms) {
  TpmRootSignerOptions so;
  so.tcti = tcti();
  so.sign_timeout_ms = sign_timeout_ms;
  auto s = TpmRootSigner::Open(so);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

absl::Status InitializedTpmTest::ReplaceRootKey() {
  KeysInitOptions o;
  o.tcti = tcti();
  o.force = true;
  return KeysInit(o).status();
}

v1::IssuerCertificateBody CertBody(const std::array<uint8_t, 32>& pub, const RootSigner& root) {
  return taogate::testing::IssuerCertBody(pub, root.key_id(), root.software_mode());
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
