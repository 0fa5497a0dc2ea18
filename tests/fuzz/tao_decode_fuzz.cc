// libFuzzer target: DecodeTao, DecodeIssuerCertificate and JSON rendering
// must never crash on any input.
// The (void)-discarded results are the point: any verdict is fine, a crash is not.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "taogate/tao/certificate.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto tao = taogate::tao::DecodeTao(in);
  if (tao.ok()) {
    auto body = taogate::tao::DecodeBody(tao->body());
    if (body.ok()) (void)taogate::tao::TaoToJson(*tao, *body);
    (void)taogate::tao::DecodeIssuerCertificate(tao->issuer_certificate());
  }
  (void)taogate::tao::DecodeBody(in);
  (void)taogate::tao::DecodeIssuerCertificate(in);
  return 0;
}
