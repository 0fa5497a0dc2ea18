// Checkpoint signing keys in the C2SP signed-note model
// (https://c2sp.org/signed-note). A key has a name and a 4-byte key hash; a
// signature line is "— <name> base64(key_hash[4] || signature)".
//
// Signer is implemented by Ed25519Signer here and by the TPM-anchored signer
// in keys/. Implementations must be safe to call from one thread at a time;
// the Ledger serializes its calls.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/common/crypto.h"
#include "taogate/ledger/record.h"

namespace taogate::ledger {

class Signer {
 public:
  virtual ~Signer() = default;
  // Key name as it appears on signature lines (no spaces, no '+', no newline).
  virtual std::string KeyName() const = 0;
  // C2SP key hash (the key ID on signature lines).
  virtual uint32_t KeyHash() const = 0;
  // Raw signature over `msg` (for Ed25519: 64 bytes over the note text).
  virtual absl::StatusOr<std::string> Sign(std::string_view msg) = 0;
  // Verifier key text "<name>+<8 hex key hash>+<base64(type || public key)>".
  virtual std::string VerifierKey() const = 0;
  // Fields of the KEY_ROTATED record that introduces this key in the ledger
  // (ledger_format.h: key_id, cert_sha256, scope, certificate), or empty. A
  // writer's Open appends it, before any checkpoint this key signs, unless
  // the ledger's last KEY_ROTATED record of the same scope already names
  // key_id. Lets an auditor follow checkpoint keys across restarts.
  virtual Fields KeyRecordFields() const { return {}; }
};

// Ed25519 key hash: first 4 bytes (big-endian) of
// SHA-256(name || 0x0A || 0x01 || public_key).
uint32_t Ed25519KeyHash(std::string_view name, std::span<const uint8_t> public_key);
std::string Ed25519VerifierKey(std::string_view name, std::span<const uint8_t> public_key);

class Ed25519Signer final : public Signer {
 public:
  // InvalidArgument for an empty name or one containing ' ', '+' or a control char.
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> Create(std::string name,
                                                               crypto::Ed25519PrivateKey key);
  std::string KeyName() const override { return name_; }
  uint32_t KeyHash() const override { return key_hash_; }
  absl::StatusOr<std::string> Sign(std::string_view msg) override;
  std::string VerifierKey() const override;
  std::array<uint8_t, 32> PublicKey() const { return key_.PublicKey(); }

 private:
  Ed25519Signer(std::string name, crypto::Ed25519PrivateKey key);
  std::string name_;
  crypto::Ed25519PrivateKey key_;
  uint32_t key_hash_;
};

// An Ed25519 verification key. `name` may be empty when loaded from PEM;
// then signatures are matched by key hash computed with the line's name.
struct NoteVerifier {
  std::string name;
  std::array<uint8_t, 32> public_key{};
};

// Parses a verifier key ("name+hash+base64") or an Ed25519 PEM public key.
// InvalidArgument if neither, or if a vkey's hash does not match its key.
absl::StatusOr<NoteVerifier> ParseNoteVerifier(std::string_view text);

}  // namespace taogate::ledger
