// TAO codec and signature costs: encode+sign and decode+verify per TAO.
#include <chrono>
#include <cstdio>

#include "report.h"
#include "taogate/common/crypto.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

using namespace taogate;
using Clock = std::chrono::steady_clock;

namespace {

v1::TaoBody Body(const tao::KeyId& kid) {
  v1::TaoBody b;
  b.set_version(1);
  b.set_id(std::string(16, 'i'));
  b.set_nonce(std::string(16, 'n'));
  b.set_issuer_key_id(kid.data(), kid.size());
  b.set_actor("spiffe://example.org/agent/bench");
  b.mutable_binding()->set_node_id("node-a");
  b.mutable_binding()->set_cgroup_id(4242);
  b.set_action_class("db.read");
  b.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  b.mutable_target()->set_address("127.0.0.1");
  b.mutable_target()->set_port(5432);
  b.set_max_uses(1);
  b.set_not_before_ms(1'800'000'000'000);
  b.set_expires_at_ms(1'800'000'060'000);
  b.set_policy_bundle_sha256(std::string(32, 'p'));
  return b;
}

template <typename F>
double OpsPerSecond(int n, F&& f) {
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) f(i);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return n / s;
}

}  // namespace

int main(int argc, char** argv) {
  auto key = crypto::Ed25519PrivateKey::Generate();
  if (!key.ok()) return 1;
  auto pub = key->PublicKey();
  auto body = Body(tao::KeyIdOf(pub));
  constexpr int kN = 20000;
  std::string wire;
  double sign_rate = OpsPerSecond(kN, [&](int i) {
    body.set_decision_ledger_index(static_cast<uint64_t>(i));
    auto t = tao::SignTao(*tao::EncodeBody(body), *key, "cert");
    wire = t->SerializeAsString();
  });
  double verify_rate = OpsPerSecond(kN, [&](int) {
    auto t = tao::DecodeTao(wire);
    auto b = tao::DecodeBody(t->body());
    if (!tao::VerifyTaoSignature(*t, *b, pub).ok()) std::abort();
  });
  bench::Report r;
  r.Add({"tao_encode_sign", sign_rate, "ops/s", std::nullopt, {{"threads", 1}}});
  r.Add({"tao_decode_verify", verify_rate, "ops/s", std::nullopt, {{"threads", 1}}});
  return r.Emit(bench::JsonPathFromArgs(argc, argv)) ? 0 : 1;
}
