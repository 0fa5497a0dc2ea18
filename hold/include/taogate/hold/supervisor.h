// The hold supervisor: answers the syscalls a hold filter (filter.h) sends
// it, on any number of listener fds, each held call on its own.
//
// One held call, in order (never changes):
//   SECCOMP_IOCTL_NOTIF_RECV
//   -> the destination read from the caller's memory (process_vm_readv) and
//      the socket's type (pidfd_getfd + SO_TYPE): ONLY to choose what to ask
//      about; the kernel gate re-reads the real sockaddr when the syscall
//      continues, so a value swapped in another thread changes nothing
//   -> SECCOMP_IOCTL_NOTIF_ID_VALID (the reads above were of the held task,
//      not of a process that took its pid)
//   -> Decide(held, answer) on the supervisor thread; `answer` may be called
//      later from any thread, once (later calls are no-ops)
//   -> first of: the answer, max_hold_ms (ETIMEDOUT), Stop (EACCES)
//   -> ID_VALID again, then SECCOMP_IOCTL_NOTIF_SEND: CONTINUE (the kernel
//      runs the real syscall: the gate decides) or the errno.
// The task died or a signal interrupted the call: its id is no longer valid,
// the answer is dropped (counted as gone). A call a signal restarted
// (SA_RESTART) comes back as a new notification from the same thread for the
// same destination: it is joined to the decision already under way (same
// deadline), never asked twice.
// Continue keeps the syscall's own semantics: a non-blocking connect returns
// EINPROGRESS as without the hold.
//
// Thread-safe. Decide must not block (hand long work to another thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/common/fd.h"
#include "taogate/target/target.h"

namespace taogate::hold {

struct Held {
  pid_t tid = 0;   // the held thread (in the supervisor's pid namespace)
  pid_t tgid = 0;  // its process
  int syscall_nr = 0;
  // tcp/udp with one address and port, or a unix path; nullopt when the
  // call names no destination the gate could protect.
  std::optional<target::Target> dest;
  std::string exe;                        // readlink(/proc/<tid>/exe)
  std::shared_ptr<const UniqueFd> pidfd;  // of tgid, taken before ID_VALID (may be invalid)
};

struct Verdict {
  int error = 0;  // 0: continue
  static Verdict Continue() { return {}; }
  static Verdict Fail(int err) { return {err}; }
};

struct SupervisorOptions {
  int64_t max_hold_ms = 30'000;  // then ETIMEDOUT
  size_t max_held = 1024;        // more at once: EAGAIN at once
};

struct SupervisorStats {
  uint64_t held_now = 0, held_total = 0, listeners = 0;
  uint64_t continued = 0, failed = 0, timed_out = 0, gone = 0, joined = 0;
};

class Supervisor {
 public:
  using Answer = std::function<void(Verdict)>;
  using Decide = std::function<void(const Held&, Answer)>;

  static absl::StatusOr<std::unique_ptr<Supervisor>> Start(SupervisorOptions options, Decide decide);
  ~Supervisor();
  // Supervises the filters behind `listener` from now on.
  absl::Status Add(UniqueFd listener);
  // Stops receiving, fails every held call with EACCES, closes every
  // listener (the tasks' later connects then fail with ENOSYS).
  void Stop();
  SupervisorStats stats() const;

  struct State;

 private:
  Supervisor() = default;
  std::shared_ptr<State> s_;
};

// The destination a connect/sendto names, from its raw sockaddr and the
// socket's SO_TYPE; nullopt if none the gate could protect.
std::optional<target::Target> DestinationOf(const void* addr, size_t len, int sock_type);

}  // namespace taogate::hold
