// An Ed25519 private key whose secret bytes live in OpenSSL's secure heap:
// an mlock()ed arena with guard pages, excluded from core dumps
// (MADV_DONTDUMP), cleared on free (OPENSSL_secure_clear_free).
//
// Why not crypto::Ed25519PrivateKey: OpenSSL 3.0 copies a raw private key
// imported with EVP_PKEY_new_raw_private_key into ordinary heap memory;
// only keys generated inside OpenSSL (EVP_PKEY_keygen) use the secure heap.
// So this key is generated in place and never exported.
//
// Move-only; Sign/PublicKey are const and safe from many threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"

namespace taogate::keys {

class LockedEd25519Key {
 public:
  // Sets up the secure heap on first use. FailedPrecondition if it cannot be
  // created or, with require_locked, cannot be mlock()ed (RLIMIT_MEMLOCK).
  // (tests/keys checks that generated keys land in the secure heap.)
  static absl::StatusOr<LockedEd25519Key> Generate(bool require_locked = true);

  LockedEd25519Key(LockedEd25519Key&&) noexcept;
  LockedEd25519Key& operator=(LockedEd25519Key&&) noexcept;
  ~LockedEd25519Key();  // frees and wipes the secret

  const std::array<uint8_t, 32>& public_key() const { return public_key_; }
  absl::StatusOr<std::array<uint8_t, 64>> Sign(std::span<const uint8_t> message) const;

 private:
  struct Impl;
  explicit LockedEd25519Key(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::array<uint8_t, 32> public_key_{};
};

// Bytes currently allocated in OpenSSL's secure heap (0 before it exists);
// for tests and status pages.
size_t SecureHeapBytesInUse();

}  // namespace taogate::keys
