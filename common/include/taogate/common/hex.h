#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace taogate {

std::string ToHex(std::span<const uint8_t> bytes);
inline std::string ToHex(std::string_view bytes) {
  return ToHex({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}
// True iff `s` is non-empty and only [0-9a-f] (e.g. a canonical digest).
bool IsLowerHex(std::string_view s);
// Lower- or upper-case hex, even length; anything else is InvalidArgument.
absl::StatusOr<std::vector<uint8_t>> FromHex(std::string_view hex);

}  // namespace taogate
