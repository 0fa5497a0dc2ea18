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
  if (options.sendto) {
    // sendto with a destination (arg 4, dest_addr, not NULL). Spelled out:
    // SCMP_A4() leaves datum_b to the compiler (-Wmissing-field-initializers).
    const scmp_arg_cmp has_dest{.arg = 4, .op = SCMP_CMP_NE, .datum_a = 0, .datum_b = 0};
    TG_RETURN_IF_ERROR(Check(seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, SCMP_SYS(sendto), 1, has_dest),
                             "rule sendto"));
  }
  TG_RETURN_IF_ERROR(Check(seccomp_load(ctx.get()), "load"));
  int fd = seccomp_notify_fd(ctx.get());
  if (fd < 0) return ErrnoStatus(-fd, "seccomp: no listener fd");
  return UniqueFd(fd);
}

}  // namespace taogate::hold
