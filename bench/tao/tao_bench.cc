// TAO codec and signature costs: encode+sign and decode+verify per TAO.
#include <cstdio>
#include <cstdlib>

#include "report.h"
#include "tao/tao_testing.h"
#include "taogate/common/crypto.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

using namespace taogate;

int main(int argc, char** argv) {
  auto key = crypto::Ed25519PrivateKey::Generate();
  if (!key.ok()) return 1;
  auto pub = key->PublicKey();
  auto body = testing::ValidTaoBody(tao::KeyIdOf(pub));
  constexpr int kN = 20000;
  std::string wire;
  double sign_rate = bench::OpsPerSecond(kN, [&](int i) {
    body.set_decision_ledger_index(static_cast<uint64_t>(i));
    auto t = tao::SignTao(*tao::EncodeBody(body), *key, "cert");
    wire = t->SerializeAsString();
  });
  double verify_rate = bench::OpsPerSecond(kN, [&](int) {
    auto t = tao::DecodeTao(wire);
    auto b = tao::DecodeBody(t->body());
    if (!tao::VerifyTaoSignature(*t, *b, pub).ok()) std::abort();
  });
  bench::Report r;
  r.Add({"tao_encode_sign", sign_rate, "ops/s", std::nullopt, {{"threads", 1}}});
  r.Add({"tao_decode_verify", verify_rate, "ops/s", std::nullopt, {{"threads", 1}}});
  return r.Emit(bench::JsonPathFromArgs(argc, argv)) ? 0 : 1;
}
