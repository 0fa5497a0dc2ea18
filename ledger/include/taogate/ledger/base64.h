// Standard base64 (RFC 4648, with padding) as used by C2SP signed notes and
// the RFC 6962 test vectors. Decode is strict: InvalidArgument on bad
// characters, bad padding or non-canonical trailing bits. Thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace taogate::ledger {

std::string Base64Encode(std::span<const uint8_t> data);
inline std::string Base64Encode(std::string_view s) {
  return Base64Encode({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}
absl::StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace taogate::ledger
