// The hold filter: a seccomp filter (libseccomp) that sends the calling
// process's connect() -- and sendto() with a destination address, the UDP
// form -- to a user-space supervisor (SCMP_ACT_NOTIFY) and allows every
// other syscall. Installed by the workload itself, before it execs the
// program to hold (taogatectl run --hold); inherited by every child and
// thread, and kept across exec. The listener fd it returns is the only way
// to answer: whoever holds it decides when the held syscall resumes.
//
// What the workload sees without a supervisor: once every copy of the
// listener is closed, a held (or new) connect/sendto fails with ENOSYS; it
// never passes unchecked (docs/hold.md).
//
// Sets no_new_privs (a filter without CAP_SYS_ADMIN requires it): setuid
// binaries in the workload run without their privileges.
#pragma once

#include "absl/status/statusor.h"
#include "taogate/common/fd.h"

namespace taogate::hold {

struct FilterOptions {
  bool sendto = true;  // also hold sendto() with a non-NULL destination
};

// Installs the filter on the calling thread (single-threaded callers: a
// forked child before exec). Returns the listener fd (O_CLOEXEC: the held
// program never inherits it).
absl::StatusOr<UniqueFd> InstallHoldFilter(const FilterOptions& options = {});

// True if this kernel and libseccomp support user notification.
bool HoldSupported();

}  // namespace taogate::hold
