// A root public key: ECDSA P-256 (TPM root) or Ed25519 (software root),
// parsed once from DER/PEM SubjectPublicKeyInfo. Immutable after creation;
// copies share the parsed OpenSSL key; safe to use from many threads.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/keys/keys_format.h"

namespace taogate::keys {

enum class KeyAlgorithm { kEcdsaP256, kEd25519 };

class PublicKey {
 public:
  // InvalidArgument unless the DER/PEM is a P-256 EC or Ed25519 SPKI.
  static absl::StatusOr<PublicKey> FromDer(std::string_view spki_der);
  static absl::StatusOr<PublicKey> FromPem(std::string_view pem);
  // From the affine coordinates of a P-256 point (as a TPM reports them).
  static absl::StatusOr<PublicKey> FromP256Point(std::string_view x, std::string_view y);

  KeyAlgorithm algorithm() const { return algorithm_; }
  const std::string& der() const { return der_; }
  const KeyId& key_id() const { return key_id_; }  // SHA-256(der())
  std::string ToPem() const;

  // OkStatus iff `signature` is valid over `message` (see keys_format.h:
  // ECDSA-SHA256 with a DER signature, or pure Ed25519); Unauthenticated
  // otherwise.
  absl::Status Verify(std::string_view message, std::string_view signature) const;
  // ECDSA P-256 only: a DER signature over an already computed SHA-256
  // digest (what a TPM signs). Unauthenticated on mismatch.
  absl::Status VerifyDigest(const std::array<uint8_t, 32>& digest, std::string_view signature) const;

 private:
  PublicKey() = default;
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  KeyAlgorithm algorithm_ = KeyAlgorithm::kEcdsaP256;
  std::string der_;
  KeyId key_id_{};
};

}  // namespace taogate::keys
