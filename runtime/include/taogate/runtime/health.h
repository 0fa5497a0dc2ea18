// /healthz bodies for both daemons: a list of named checks, rendered one per
// line, so the 503 names the check that failed and a probe or an operator
// reads the rest of the picture in the same body. Pure functions (and one
// statvfs); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace taogate::runtime {

struct HealthCheck {
  std::string name;     // "ledger", "tpm", "gate", "governor"
  absl::Status status;  // an error fails the check
  std::string detail;   // shown on success too ("root: tpm")
  bool required = true; // false: reported, never a 503 (e.g. governor reachability)
};

// OK: "ok\n" then "NAME: ok[ DETAIL]" per check (a non-required failure
// reads "NAME: degraded: MESSAGE"). Unavailable when a required check failed:
// the message is "NAME: MESSAGE" of the first such check, then every line.
absl::StatusOr<std::string> HealthReport(const std::vector<HealthCheck>& checks);

// OK if `dir` can take appends: on a read-write mount with at least
// `min_free_bytes` available. ResourceExhausted (disk full) or
// FailedPrecondition (read-only, or statvfs failed) naming the directory.
absl::Status CheckDirAppendable(const std::string& dir, uint64_t min_free_bytes);

}  // namespace taogate::runtime
