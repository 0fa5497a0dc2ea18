#include "taogate/ledger/signer.h"

#include <cstdio>

#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"

namespace taogate::ledger {
namespace {

constexpr uint8_t kEd25519Type = 0x01;

bool ValidKeyName(std::string_view n) {
  if (n.empty()) return false;
  for (unsigned char c : n)
    if (c <= 0x20 || c == 0x7f || c == '+') return false;
  return true;
}

std::string Hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

}  // namespace

uint32_t Ed25519KeyHash(std::string_view name, std::span<const uint8_t> public_key) {
  crypto::Sha256Hasher h;
  h.Update(name);
  const uint8_t sep[2] = {0x0A, kEd25519Type};
  h.Update(std::span<const uint8_t>(sep, 2));
  h.Update(public_key);
  crypto::Sha256Digest d = h.Finish();
  return uint32_t{d[0]} << 24 | uint32_t{d[1]} << 16 | uint32_t{d[2]} << 8 | d[3];
}

std::string Ed25519VerifierKey(std::string_view name, std::span<const uint8_t> public_key) {
  std::string typed(1, static_cast<char>(kEd25519Type));
  typed.append(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  return StrCat(name, "+", Hex8(Ed25519KeyHash(name, public_key)), "+", Base64Encode(typed));
}

Ed25519Signer::Ed25519Signer(std::string name, crypto::Ed25519PrivateKey key)
    : name_(std::move(name)), key_(std::move(key)) {
  auto pub = key_.PublicKey();
  key_hash_ = Ed25519KeyHash(name_, pub);
}

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::Create(std::string name,
                                                                     crypto::Ed25519PrivateKey key) {
  if (!ValidKeyName(name))
    return absl::InvalidArgumentError(StrCat("invalid signer key name '", name, "'"));
  return std::unique_ptr<Ed25519Signer>(new Ed25519Signer(std::move(name), std::move(key)));
}

absl::StatusOr<std::string> Ed25519Signer::Sign(std::string_view msg) {
  TG_ASSIGN_OR_RETURN(auto sig, key_.Sign(crypto::AsBytes(msg)));
  return std::string(reinterpret_cast<const char*>(sig.data()), sig.size());
}

std::string Ed25519Signer::VerifierKey() const { return Ed25519VerifierKey(name_, key_.PublicKey()); }

absl::StatusOr<NoteVerifier> ParseNoteVerifier(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  NoteVerifier v;
  if (text.starts_with("-----BEGIN")) {
    TG_ASSIGN_OR_RETURN(v.public_key, crypto::Ed25519PublicKeyFromPem(text));
    return v;
  }
  size_t p1 = text.find('+');
  size_t p2 = p1 == std::string_view::npos ? p1 : text.find('+', p1 + 1);
  if (p2 == std::string_view::npos)
    return absl::InvalidArgumentError("verifier key: want PEM or <name>+<hash>+<base64 key>");
  v.name = std::string(text.substr(0, p1));
  std::string_view hash_hex = text.substr(p1 + 1, p2 - p1 - 1);
  auto typed = Base64Decode(text.substr(p2 + 1));
  if (!ValidKeyName(v.name) || hash_hex.size() != 8 || !typed.ok() || typed->size() != 33 ||
      static_cast<uint8_t>((*typed)[0]) != kEd25519Type)
    return absl::InvalidArgumentError("verifier key: malformed or not an Ed25519 key");
  std::copy(typed->begin() + 1, typed->end(), reinterpret_cast<char*>(v.public_key.data()));
  if (hash_hex != Hex8(Ed25519KeyHash(v.name, v.public_key)))
    return absl::InvalidArgumentError("verifier key: key hash does not match name and key");
  return v;
}

}  // namespace taogate::ledger
