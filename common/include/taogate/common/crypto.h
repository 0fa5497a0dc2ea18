// Thin, checked wrappers over OpenSSL 3 EVP for the primitives taogate uses:
// SHA-256, Ed25519 and a CSPRNG. Every function reports failure as a Status;
// none aborts on bad input.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace taogate::crypto {

using Sha256Digest = std::array<uint8_t, 32>;
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

Sha256Digest Sha256(std::span<const uint8_t> data);
Sha256Digest Sha256(std::string_view data);

// Incremental SHA-256 for multi-part inputs (e.g. domain prefix || body).
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data);
  Sha256Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Constant-time equality for secrets and MACs; false on length mismatch
// (lengths are not secret).
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

// Fills `out` from the OpenSSL CSPRNG.
absl::Status RandomBytes(std::span<uint8_t> out);

// An Ed25519 private key held by OpenSSL. The raw key never leaves the object
// except through ExportPrivateSeed (for tests and software-mode persistence).
class Ed25519PrivateKey {
 public:
  static absl::StatusOr<Ed25519PrivateKey> Generate();
  static absl::StatusOr<Ed25519PrivateKey> FromSeed(std::span<const uint8_t> seed32);
  // PEM (PKCS#8) text, as written by `openssl genpkey -algorithm ed25519`.
  static absl::StatusOr<Ed25519PrivateKey> FromPem(std::string_view pem);

  Ed25519PrivateKey(Ed25519PrivateKey&&) noexcept;
  Ed25519PrivateKey& operator=(Ed25519PrivateKey&&) noexcept;
  ~Ed25519PrivateKey();

  std::array<uint8_t, kEd25519PublicKeySize> PublicKey() const;
  absl::StatusOr<std::array<uint8_t, kEd25519SignatureSize>> Sign(std::span<const uint8_t> msg) const;
  absl::StatusOr<std::vector<uint8_t>> ExportPrivateSeed() const;
  absl::StatusOr<std::string> ToPem() const;

 private:
  struct Impl;
  explicit Ed25519PrivateKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// OkStatus iff `sig` is a valid Ed25519 signature of `msg` under `public_key`;
// Unauthenticated otherwise, InvalidArgument for malformed key/signature sizes.
absl::Status Ed25519Verify(std::span<const uint8_t> public_key, std::span<const uint8_t> msg,
                           std::span<const uint8_t> sig);

// Reads a 32-byte raw Ed25519 public key from PEM (SubjectPublicKeyInfo).
absl::StatusOr<std::array<uint8_t, kEd25519PublicKeySize>> Ed25519PublicKeyFromPem(std::string_view pem);
std::string Ed25519PublicKeyToPem(std::span<const uint8_t> public_key);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace taogate::crypto
