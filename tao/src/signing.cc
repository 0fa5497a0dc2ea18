#include "taogate/tao/signing.h"

#include "taogate/common/status.h"
#include "taogate/tao/codec.h"

namespace taogate::tao {
namespace {

std::string SignedMessage(std::string_view body) {
  std::string msg(kTaoSignatureDomain);
  msg.append(body);
  return msg;
}

}  // namespace

KeyId KeyIdOf(std::span<const uint8_t> public_key) { return crypto::Sha256(public_key); }

absl::StatusOr<v1::Tao> SignTao(std::string body_bytes, const crypto::Ed25519PrivateKey& key,
                                std::string issuer_certificate) {
  TG_ASSIGN_OR_RETURN(v1::TaoBody body, DecodeBody(body_bytes));
  auto pub = key.PublicKey();
  KeyId id = KeyIdOf(pub);
  if (!crypto::ConstantTimeEqual(crypto::AsBytes(body.issuer_key_id()), id))
    return absl::InvalidArgumentError("body issuer_key_id does not match the signing key");
  TG_ASSIGN_OR_RETURN(auto sig, key.Sign(crypto::AsBytes(SignedMessage(body_bytes))));
  v1::Tao tao;
  tao.set_body(std::move(body_bytes));
  tao.set_signature(sig.data(), sig.size());
  tao.set_issuer_certificate(std::move(issuer_certificate));
  return tao;
}

absl::Status VerifyTaoSignature(const v1::Tao& tao, const v1::TaoBody& body,
                                std::span<const uint8_t> issuer_public_key) {
  KeyId id = KeyIdOf(issuer_public_key);
  if (!crypto::ConstantTimeEqual(crypto::AsBytes(body.issuer_key_id()), id))
    return absl::UnauthenticatedError("TAO issuer_key_id does not name the issuing key");
  absl::Status st = crypto::Ed25519Verify(issuer_public_key,
                                          crypto::AsBytes(SignedMessage(tao.body())),
                                          crypto::AsBytes(tao.signature()));
  if (!st.ok()) return absl::UnauthenticatedError("TAO signature does not verify");
  return absl::OkStatus();
}

}  // namespace taogate::tao
