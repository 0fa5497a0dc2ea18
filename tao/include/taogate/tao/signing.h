// TAO signatures: Ed25519 over a domain-separated message
//   "taogate.tao.v1\0" || body
// where body is the exact carried TaoBody bytes. Key id = sha256(raw public key).
// Certificate-chain checks (issuing key -> TPM root) live in taogate::keys.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/common/crypto.h"
#include "tao.pb.h"

namespace taogate::tao {

inline constexpr std::string_view kTaoSignatureDomain{"taogate.tao.v1\0", 15};

using KeyId = std::array<uint8_t, 32>;
KeyId KeyIdOf(std::span<const uint8_t> public_key);

// Signs already-encoded body bytes (from EncodeBody) and wraps them with the
// issuer certificate. The body's issuer_key_id must equal the key's id.
absl::StatusOr<v1::Tao> SignTao(std::string body_bytes, const crypto::Ed25519PrivateKey& key,
                                std::string issuer_certificate);

// Unauthenticated unless `tao.signature` verifies over its carried body under
// `issuer_public_key`, and the body's issuer_key_id names that key
// (compared in constant time).
absl::Status VerifyTaoSignature(const v1::Tao& tao, const v1::TaoBody& body,
                                std::span<const uint8_t> issuer_public_key);

}  // namespace taogate::tao
