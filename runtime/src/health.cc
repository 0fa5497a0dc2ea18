#include "taogate/runtime/health.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

#include "taogate/common/strings.h"

namespace taogate::runtime {

absl::StatusOr<std::string> HealthReport(const std::vector<HealthCheck>& checks) {
  std::string lines;
  const HealthCheck* failed = nullptr;
  for (const HealthCheck& c : checks) {
    const std::string detail = c.detail.empty() ? "" : StrCat(" (", c.detail, ")");
    if (c.status.ok()) {
      lines += StrCat(c.name, ": ok", detail, "\n");
      continue;
    }
    lines += StrCat(c.name, c.required ? ": FAILED: " : ": degraded: ", c.status.message(), detail, "\n");
    if (c.required && failed == nullptr) failed = &c;
  }
  if (failed == nullptr) return StrCat("ok\n", lines);
  return absl::UnavailableError(StrCat(failed->name, ": ", failed->status.message(), "\n", lines));
}

absl::Status CheckDirAppendable(const std::string& dir, uint64_t min_free_bytes) {
  struct statvfs v {};
  if (statvfs(dir.c_str(), &v) != 0)
    return absl::FailedPreconditionError(StrCat("statvfs ", dir, ": ", std::strerror(errno)));
  if ((v.f_flag & ST_RDONLY) != 0) return absl::FailedPreconditionError(StrCat(dir, " is on a read-only mount"));
  const uint64_t avail = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  if (avail < min_free_bytes)
    return absl::ResourceExhaustedError(
        StrCat(dir, ": disk full (", avail, " bytes available, below ", min_free_bytes, ")"));
  return absl::OkStatus();
}

}  // namespace taogate::runtime
