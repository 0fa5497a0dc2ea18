// Hygiene for the free-text `reason` that accompanies a request, an approval
// or a break-glass. The text is untrusted (it may come from a model prompted
// by an attacker) and ends up in front of human approvers and in the ledger,
// so: bounded length, valid UTF-8, no control or invisible formatting
// characters (C0, DEL, C1, bidi overrides/isolates, zero-width characters,
// line/paragraph separators, BOM), not blank. The ledger stores only the
// SHA-256 of the exact bytes plus a short redacted summary. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/common/crypto.h"

namespace taogate::policies {

inline constexpr size_t kMaxReasonBytes = 1024;
inline constexpr size_t kReasonSummaryBytes = 96;

struct ReasonRecord {
  crypto::Sha256Digest sha256{};  // of the reason bytes exactly as given
  // At most kReasonSummaryBytes (+ "..."), words that look like e-mail
  // addresses, URLs, long numbers, credentials or key=secret pairs replaced by
  // [email], [url], [number], [secret]; whitespace runs collapsed.
  std::string summary;
};

// InvalidArgument saying what is wrong (and at which byte offset) if the
// reason is refused.
absl::StatusOr<ReasonRecord> SanitizeReason(std::string_view reason);

}  // namespace taogate::policies
