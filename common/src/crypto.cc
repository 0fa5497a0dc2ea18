#include "taogate/common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "absl/status/status.h"
#include "taogate/common/strings.h"

namespace taogate::crypto {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

absl::Status OpenSslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return absl::InternalError(StrCat(what, ": ", buf));
}

}  // namespace

Sha256Digest Sha256(std::span<const uint8_t> data) {
  Sha256Hasher h;
  h.Update(data);
  return h.Finish();
}
Sha256Digest Sha256(std::string_view data) { return Sha256(AsBytes(data)); }

struct Sha256Hasher::Impl {
  MdCtxPtr ctx{EVP_MD_CTX_new()};
};
Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {
  // Allocation or init failure of a built-in digest cannot happen after start-up.
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) != 1) abort();
}
Sha256Hasher::~Sha256Hasher() = default;
void Sha256Hasher::Update(std::span<const uint8_t> data) {
  EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size());
}
void Sha256Hasher::Update(std::string_view data) { Update(AsBytes(data)); }
Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest d{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), d.data(), &len);
  EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr);
  return d;
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status RandomBytes(std::span<uint8_t> out) {
  if (out.empty()) return absl::OkStatus();
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) return OpenSslError("RAND_bytes");
  return absl::OkStatus();
}

struct Ed25519PrivateKey::Impl {
  PkeyPtr key;
};

Ed25519PrivateKey::Ed25519PrivateKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ed25519PrivateKey::Ed25519PrivateKey(Ed25519PrivateKey&&) noexcept = default;
Ed25519PrivateKey& Ed25519PrivateKey::operator=(Ed25519PrivateKey&&) noexcept = default;
Ed25519PrivateKey::~Ed25519PrivateKey() = default;  // EVP_PKEY_free clears key material.

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::Generate() {
  std::array<uint8_t, 32> seed{};
  absl::Status st = RandomBytes(seed);
  if (!st.ok()) return st;
  auto key = FromSeed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return key;
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromSeed(std::span<const uint8_t> seed32) {
  if (seed32.size() != 32) return absl::InvalidArgumentError("Ed25519 seed must be 32 bytes");
  PkeyPtr k(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed32.data(), seed32.size()));
  if (!k) return OpenSslError("EVP_PKEY_new_raw_private_key");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(k);
  return Ed25519PrivateKey(std::move(impl));
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  PkeyPtr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k) return absl::InvalidArgumentError("not a PEM private key");
  if (EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519)
    return absl::InvalidArgumentError("PEM private key is not Ed25519");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(k);
  return Ed25519PrivateKey(std::move(impl));
}

std::array<uint8_t, kEd25519PublicKeySize> Ed25519PrivateKey::PublicKey() const {
  std::array<uint8_t, kEd25519PublicKeySize> pub{};
  size_t len = pub.size();
  EVP_PKEY_get_raw_public_key(impl_->key.get(), pub.data(), &len);
  return pub;
}

absl::StatusOr<std::array<uint8_t, kEd25519SignatureSize>> Ed25519PrivateKey::Sign(
    std::span<const uint8_t> msg) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslError("EVP_MD_CTX_new");
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) != 1)
    return OpenSslError("EVP_DigestSignInit");
  std::array<uint8_t, kEd25519SignatureSize> sig{};
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1 || len != sig.size())
    return OpenSslError("EVP_DigestSign");
  return sig;
}

absl::StatusOr<std::vector<uint8_t>> Ed25519PrivateKey::ExportPrivateSeed() const {
  std::vector<uint8_t> seed(32);
  size_t len = seed.size();
  if (EVP_PKEY_get_raw_private_key(impl_->key.get(), seed.data(), &len) != 1 || len != 32)
    return OpenSslError("EVP_PKEY_get_raw_private_key");
  return seed;
}

absl::StatusOr<std::string> Ed25519PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1)
    return OpenSslError("PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::Status Ed25519Verify(std::span<const uint8_t> public_key, std::span<const uint8_t> msg,
                           std::span<const uint8_t> sig) {
  if (public_key.size() != kEd25519PublicKeySize)
    return absl::InvalidArgumentError("Ed25519 public key must be 32 bytes");
  if (sig.size() != kEd25519SignatureSize)
    return absl::InvalidArgumentError("Ed25519 signature must be 64 bytes");
  PkeyPtr k(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(),
                                        public_key.size()));
  if (!k) return absl::InvalidArgumentError("invalid Ed25519 public key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslError("EVP_MD_CTX_new");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) != 1)
    return OpenSslError("EVP_DigestVerifyInit");
  int rc = EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size());
  ERR_clear_error();
  if (rc != 1) return absl::UnauthenticatedError("Ed25519 signature does not verify");
  return absl::OkStatus();
}

absl::StatusOr<std::array<uint8_t, kEd25519PublicKeySize>> Ed25519PublicKeyFromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  PkeyPtr k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!k) return absl::InvalidArgumentError("not a PEM public key");
  if (EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519)
    return absl::InvalidArgumentError("PEM public key is not Ed25519");
  std::array<uint8_t, kEd25519PublicKeySize> pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(k.get(), pub.data(), &len) != 1) return OpenSslError("raw public key");
  return pub;
}

std::string Ed25519PublicKeyToPem(std::span<const uint8_t> public_key) {
  PkeyPtr k(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(),
                                        public_key.size()));
  if (!k) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), k.get()) != 1) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace taogate::crypto
