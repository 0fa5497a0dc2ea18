#include "tao/tao_testing.h"

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

namespace taogate::testing {
namespace {

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::cerr << "tao_testing: " << v.status() << "\n";
    std::abort();
  }
  return std::move(v).value();
}

}  // namespace

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

v1::TaoBody ValidTaoBody(const std::array<uint8_t, 32>& issuer_key_id) {
  v1::TaoBody b;
  b.set_version(1);
  std::string id(16, '\0'), nonce(16, '\0');
  // Cannot fail after start-up (the CSPRNG is seeded); zeros would still be a
  // valid body.
  (void)crypto::RandomBytes({reinterpret_cast<uint8_t*>(id.data()), id.size()});
  (void)crypto::RandomBytes({reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()});
  b.set_id(id);
  b.set_nonce(nonce);
  b.set_issuer_key_id(issuer_key_id.data(), issuer_key_id.size());
  b.set_actor("spiffe://example.org/agent/reporter");
  b.mutable_binding()->set_node_id("node-a");
  b.mutable_binding()->set_cgroup_id(4242);
  b.mutable_binding()->set_workload_path("/taogate/w1");
  b.set_action_class("db.read");
  b.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  b.mutable_target()->set_address("127.0.0.1");
  b.mutable_target()->set_port(5432);
  b.set_max_uses(1);
  // Valid from a second ago: a caller may read its "now" before it makes the
  // body (argument evaluation order), and a TAO is never verified at the
  // millisecond it was issued anyway.
  const int64_t now = NowMs();
  b.set_not_before_ms(now - 1'000);
  b.set_expires_at_ms(now + 60'000);
  b.set_policy_bundle_sha256(std::string(32, '\x11'));
  b.set_decision_ledger_index(7);
  return b;
}

v1::IssuerCertificateBody IssuerCertBody(const std::array<uint8_t, 32>& pub,
                                         std::span<const uint8_t> root_key_id, bool software_mode) {
  v1::IssuerCertificateBody b;
  b.set_version(1);
  b.set_issuing_public_key(pub.data(), pub.size());
  auto id = tao::KeyIdOf(pub);
  b.set_issuing_key_id(id.data(), id.size());
  b.set_not_before_ms(NowMs() - 60'000);
  b.set_not_after_ms(NowMs() + 3'600'000);
  b.set_purpose("tao-issuance");
  b.set_counter(1);
  b.set_root_key_id(root_key_id.data(), root_key_id.size());
  b.set_software_mode(software_mode);
  b.set_instance("test");
  return b;
}

TestIssuer::TestIssuer()
    : key_(OrDie(crypto::Ed25519PrivateKey::Generate())),
      root_(OrDie(crypto::Ed25519PrivateKey::Generate())) {
  v1::IssuerCertificate cert;
  cert.set_body(IssuerCertBody(key_.PublicKey(), crypto::Sha256(root_.PublicKey()), true).SerializeAsString());
  auto sig = OrDie(root_.Sign(crypto::AsBytes(cert.body())));
  cert.set_signature(sig.data(), sig.size());
  certificate_ = cert.SerializeAsString();
}

v1::TaoBody TestIssuer::ValidBody() const { return ValidTaoBody(tao::KeyIdOf(key_.PublicKey())); }

v1::Tao TestIssuer::Sign(const v1::TaoBody& body) const {
  std::string bytes = OrDie(tao::EncodeBody(body));
  return OrDie(tao::SignTao(std::move(bytes), key_, certificate_));
}

}  // namespace taogate::testing
