#include "taogate/keys/locked_key.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <mutex>

#include "taogate/common/strings.h"

namespace taogate::keys {
namespace {

constexpr size_t kSecureHeapBytes = 64 * 1024;  // room for ~1000 keys
constexpr size_t kSecureHeapMinAlloc = 32;

// 1: locked arena; 2: arena exists but mlock failed; 0: no arena.
int EnableSecureHeap() {
  static const int rc = [] {
    if (CRYPTO_secure_malloc_initialized()) return 1;
    return CRYPTO_secure_malloc_init(kSecureHeapBytes, kSecureHeapMinAlloc);
  }();
  return rc;
}

absl::Status OpenSslError(std::string_view what) {
  ERR_clear_error();
  return absl::InternalError(StrCat(what, " failed"));
}

}  // namespace

size_t SecureHeapBytesInUse() {
  // CRYPTO_secure_used() dereferences the arena lock even before init.
  return CRYPTO_secure_malloc_initialized() ? CRYPTO_secure_used() : 0;
}

struct LockedEd25519Key::Impl {
  ~Impl() { EVP_PKEY_free(key); }  // ecx key free: OPENSSL_secure_clear_free
  EVP_PKEY* key = nullptr;
};

LockedEd25519Key::LockedEd25519Key(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LockedEd25519Key::LockedEd25519Key(LockedEd25519Key&&) noexcept = default;
LockedEd25519Key& LockedEd25519Key::operator=(LockedEd25519Key&&) noexcept = default;
LockedEd25519Key::~LockedEd25519Key() = default;

absl::StatusOr<LockedEd25519Key> LockedEd25519Key::Generate(bool require_locked) {
  int heap = EnableSecureHeap();
  if (heap == 0 || (heap == 2 && require_locked))
    return absl::FailedPreconditionError(
        heap == 2 ? "cannot mlock the secure heap for issuing keys (raise RLIMIT_MEMLOCK)"
                  : "cannot create the secure heap for issuing keys");
  auto impl = std::make_unique<Impl>();
  impl->key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (impl->key == nullptr) return OpenSslError("Ed25519 key generation");
  LockedEd25519Key k(std::move(impl));
  size_t len = k.public_key_.size();
  if (EVP_PKEY_get_raw_public_key(k.impl_->key, k.public_key_.data(), &len) != 1 || len != 32)
    return OpenSslError("EVP_PKEY_get_raw_public_key");
  return k;
}

absl::StatusOr<std::array<uint8_t, 64>> LockedEd25519Key::Sign(std::span<const uint8_t> msg) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key) != 1)
    return OpenSslError("EVP_DigestSignInit");
  std::array<uint8_t, 64> sig{};
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1 || len != sig.size())
    return OpenSslError("EVP_DigestSign");
  return sig;
}

}  // namespace taogate::keys
