// What a kernel bench creates, for taogate-bench-connect and
// taogate-bench-file-kill: a temp dir with a private bpffs, a governed cgroup
// <cgroup2>/<name>-<pid> with a workload `w` below it (and, on request, a
// sibling `-baseline` outside it with no programs), and the gate attached to
// the governed cgroup. Needs root. Not thread-safe.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/fd.h"

namespace taogate::bench {

// Removed on every path, in reverse order: the process first goes back to
// its own cgroup (`home_cg`), then the gate is detached, the bpffs unmounted,
// the cgroups and the temp dir removed.
struct GateEnv {
  std::string tmp, bpffs, pin_root, home_cg;
  bpf::ScopedCgroup governed, workload, baseline;
  std::unique_ptr<bpf::Gate> gate;
  int mover = -1;        // socket to the mover process (MoveSelf)
  pid_t mover_pid = -1;
  ~GateEnv();
};

// Moves this process into `cgroup`. A governed process that moves itself
// out of the governed tree is killed by the gate (escape hooks), so the
// move is done by a mover process forked, ungoverned, at set-up: the way an
// operator's manager moves workloads.
absl::Status MoveSelf(GateEnv& env, const std::string& cgroup);

// Creates all of the above; `name` prefixes the temp dir and the cgroups
// ("taogate-bench"); `options` are the gate's (pin_root and governed_cgroup
// are filled in here).
absl::Status SetUpGateEnv(GateEnv& env, const std::string& name, bool with_baseline,
                          bpf::GateOptions options = {});

// A loopback TCP listener on `port` (0: any) in the calling thread's network
// namespace (fd invalid if it cannot listen), and one timed
// socket+connect+accept+close cycle against it (SO_LINGER 0, so no
// TIME_WAIT): ns, or 0 if the connect failed.
struct LoopbackListener {
  UniqueFd fd;
  sockaddr_in addr{};
};
LoopbackListener ListenLoopback(uint16_t port = 0);
uint64_t ConnectCycle(const LoopbackListener& l);

}  // namespace taogate::bench
