// The watch wire format: a chunked HTTP body of newline-delimited JSON
// objects, one event each,
//   {"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":{...}}
// Chunk boundaries fall anywhere (mid-line, several lines per chunk).
// A BOOKMARK's object carries only metadata.resourceVersion; an ERROR's object
// is a meta/v1 Status ({"kind":"Status","code":410,"reason":"Expired",...}).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace taogate::k8s {

// Reassembles lines from chunks. A line longer than `max_line` bytes is
// kResourceExhausted (the splitter is then unusable: the caller relists).
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line) : max_line_(max_line) {}
  using LineFn = std::function<absl::Status(std::string_view line)>;
  // Calls `on_line` for each complete non-empty line; stops at its first error.
  absl::Status Feed(std::string_view chunk, const LineFn& on_line);
  // Bytes of an unfinished line (non-zero at the end of a stream: truncated).
  size_t pending() const { return partial_.size(); }

 private:
  const size_t max_line_;
  std::string partial_;
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  EventType type = EventType::kAdded;
  nlohmann::json object;
};

// kDataLoss for a line that is not such an event (bad JSON, unknown type,
// object not an object).
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line);

// metadata.resourceVersion of an object or list, or "" if absent/not a string.
std::string ResourceVersionOf(const nlohmann::json& object);

// The HTTP-like code of an ERROR event's Status object (0 if absent).
int StatusCodeOf(const nlohmann::json& status);

}  // namespace taogate::k8s
