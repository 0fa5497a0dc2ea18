#include "taogate/hold/filter.h"

#include <seccomp.h>

#include <memory>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::hold {
namespace {

struct CtxRelease {
  void operator()(void* c) const { seccomp_release(c); }
};

absl::Status Check(int rc, const char* what) {
  return rc < 0 ? ErrnoStatus(-rc, StrCat("seccomp: ", what)) : absl::OkStatus();
}

}  // namespace

bool HoldSupported() { return seccomp_api_get() >= 6; }  // API 6: user notification (kernel 5.0+)

absl::StatusOr<UniqueFd> InstallHoldFilter(const FilterOptions& options) {
  if (!HoldSupported()) return absl::UnimplementedError("seccomp user notification is not supported here");
  std::unique_ptr<void, CtxRelease> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return absl::InternalError("seccomp_init failed");
  TG_RETURN_IF_ERROR(Check(seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, SCMP_SYS(connect), 0), "rule connect"));
  if (options.sendto)
    TG_RETURN_IF_ERROR(Check(seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, SCMP_SYS(sendto), 1,
                                              SCMP_A4(SCMP_CMP_NE, 0)),
                             "rule sendto"));
  TG_RETURN_IF_ERROR(Check(seccomp_load(ctx.get()), "load"));
  int fd = seccomp_notify_fd(ctx.get());
  if (fd < 0) return ErrnoStatus(-fd, "seccomp: no listener fd");
  return UniqueFd(fd);
}

}  // namespace taogate::hold
