// Approval messages (governor_format.h section 2): the exact bytes an
// approver signs, and a helper that signs them (for taogatectl and tests).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/common/crypto.h"

namespace taogate::governance {

// The message of governor_format.h section 2. InvalidArgument if the intent
// is not 32 bytes, the nonce not 16, or decision_id contains a NUL.
absl::StatusOr<std::string> ApprovalMessage(std::string_view decision_id,
                                            std::string_view intent_sha256, uint8_t verdict,
                                            std::string_view nonce, int64_t issued_at_ms);

// Lower-case hex SHA-256 of a raw Ed25519 public key.
std::string ApproverKeyId(std::span<const uint8_t> public_key);

// A complete, signed ApprovalRequest for `decision` (fresh random nonce,
// issued_at_ms = now_ms).
absl::StatusOr<v1::ApprovalRequest> SignApproval(const v1::Decision& decision, bool approve,
                                                 const crypto::Ed25519PrivateKey& key,
                                                 int64_t now_ms);

}  // namespace taogate::governance
