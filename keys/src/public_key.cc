#include "taogate/keys/public_key.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "taogate/common/crypto.h"
#include "taogate/common/strings.h"

namespace taogate::keys {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

absl::Status Invalid(std::string_view what) {
  ERR_clear_error();
  return absl::InvalidArgumentError(std::string(what));
}

}  // namespace

struct PublicKey::Impl {
  PkeyPtr key;
};

absl::StatusOr<PublicKey> PublicKey::FromDer(std::string_view spki_der) {
  const auto* p = reinterpret_cast<const unsigned char*>(spki_der.data());
  PkeyPtr k(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (!k) return Invalid("root public key is not a DER SubjectPublicKeyInfo");
  if (p != reinterpret_cast<const unsigned char*>(spki_der.data() + spki_der.size()))
    return Invalid("root public key DER has trailing bytes");
  PublicKey out;
  int id = EVP_PKEY_get_id(k.get());
  if (id == EVP_PKEY_ED25519) {
    out.algorithm_ = KeyAlgorithm::kEd25519;
  } else if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(k.get(), group, sizeof(group), &len) != 1 ||
        std::string_view(group) != "prime256v1")
      return Invalid("root EC public key is not on curve P-256");
    out.algorithm_ = KeyAlgorithm::kEcdsaP256;
  } else {
    return Invalid("root public key must be ECDSA P-256 or Ed25519");
  }
  // Canonical DER: re-encode, so the key id never depends on encoding quirks.
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k.get(), &der);
  if (n <= 0) return Invalid("cannot encode root public key");
  out.der_.assign(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  out.key_id_ = crypto::Sha256(out.der_);
  auto impl = std::make_shared<Impl>();
  impl->key = std::move(k);
  out.impl_ = std::move(impl);
  return out;
}

absl::StatusOr<PublicKey> PublicKey::FromPem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return Invalid("out of memory");
  PkeyPtr k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!k) return Invalid("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k.get(), &der);
  if (n <= 0) return Invalid("cannot encode PEM public key");
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return FromDer(bytes);
}

absl::StatusOr<PublicKey> PublicKey::FromP256Point(std::string_view x, std::string_view y) {
  if (x.size() > 32 || y.size() > 32 || x.empty() || y.empty())
    return Invalid("P-256 coordinates must be 1-32 bytes");
  // Uncompressed SEC1 point 0x04 || X || Y, coordinates left-padded to 32 bytes.
  std::string point(65, '\0');
  point[0] = 0x04;
  point.replace(1 + 32 - x.size(), x.size(), x);
  point.replace(33 + 32 - y.size(), y.size(), y);
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1)
    return Invalid("cannot build P-256 key parameters");
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return Invalid("TPM public point is not a valid P-256 point");
  PkeyPtr k(raw);
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k.get(), &der);
  if (n <= 0) return Invalid("cannot encode P-256 public key");
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return FromDer(bytes);
}

std::string PublicKey::ToPem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->key.get()) != 1) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::Status PublicKey::Verify(std::string_view message, std::string_view signature) const {
  if (!impl_) return absl::FailedPreconditionError("empty public key");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  const EVP_MD* md = algorithm_ == KeyAlgorithm::kEcdsaP256 ? EVP_sha256() : nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, impl_->key.get()) != 1) {
    ERR_clear_error();
    return absl::InternalError("EVP_DigestVerifyInit failed");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                            message.size());
  ERR_clear_error();
  if (rc != 1) return absl::UnauthenticatedError("signature does not verify under the root key");
  return absl::OkStatus();
}

absl::Status PublicKey::VerifyDigest(const std::array<uint8_t, 32>& digest,
                                     std::string_view signature) const {
  if (!impl_ || algorithm_ != KeyAlgorithm::kEcdsaP256)
    return absl::FailedPreconditionError("digest verification needs an ECDSA P-256 key");
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new(impl_->key.get(), nullptr), EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) {
    ERR_clear_error();
    return absl::InternalError("EVP_PKEY_verify_init failed");
  }
  int rc = EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                           signature.size(), digest.data(), digest.size());
  ERR_clear_error();
  if (rc != 1) return absl::UnauthenticatedError("signature does not verify under the root key");
  return absl::OkStatus();
}

}  // namespace taogate::keys
