#include "taogate/tao/certificate.h"

#include "taogate/common/strings.h"
#include "taogate/common/crypto.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

namespace taogate::tao {

absl::StatusOr<DecodedCertificate> DecodeIssuerCertificate(std::string_view bytes) {
  using absl::InvalidArgumentError;
  if (bytes.empty()) return InvalidArgumentError("issuer certificate is empty");
  if (bytes.size() > kMaxCertificateBytes) return InvalidArgumentError("issuer certificate is too large");
  DecodedCertificate d;
  if (!d.cert.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return InvalidArgumentError("issuer certificate is not a valid IssuerCertificate encoding");
  if (!d.body.ParseFromString(d.cert.body()))
    return InvalidArgumentError("issuer certificate body is not a valid encoding");
  for (const google::protobuf::Message* m :
       {static_cast<const google::protobuf::Message*>(&d.cert),
        static_cast<const google::protobuf::Message*>(&d.body)}) {
    const auto& unknown = m->GetReflection()->GetUnknownFields(*m);
    for (int i = 0; i < unknown.field_count(); ++i) {
      int n = unknown.field(i).number();
      if (n < kFirstNonCritical || n > kLastNonCritical)
        return InvalidArgumentError(StrCat("issuer certificate: unknown critical field ", n));
    }
  }
  const auto& b = d.body;
  if (b.version() != 1) return InvalidArgumentError("unsupported issuer certificate version");
  if (b.issuing_public_key().size() != crypto::kEd25519PublicKeySize)
    return InvalidArgumentError("issuing_public_key must be 32 bytes");
  KeyId id = KeyIdOf(crypto::AsBytes(b.issuing_public_key()));
  if (!crypto::ConstantTimeEqual(crypto::AsBytes(b.issuing_key_id()), id))
    return InvalidArgumentError("issuing_key_id is not sha256(issuing_public_key)");
  if (b.not_after_ms() <= b.not_before_ms() || b.not_before_ms() <= 0)
    return InvalidArgumentError("issuer certificate validity window is empty or negative");
  if (b.root_key_id().size() != 32) return InvalidArgumentError("root_key_id must be 32 bytes");
  if (b.purpose().empty()) return InvalidArgumentError("issuer certificate purpose is missing");
  if (d.cert.signature().empty()) return InvalidArgumentError("issuer certificate is unsigned");
  return d;
}

}  // namespace taogate::tao
