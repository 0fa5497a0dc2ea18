// What taogate-bench-acquire runs against, all real and all its own (needs
// root):
//  - a TCP listener on 127.0.0.1:<ephemeral>, the protected target;
//  - the real taogate-governor (GovernorProcess: software keys, ledger
//    fdatasync on) with a policy that permits the target for workloads
//    below the bench's governed cgroup, to two kinds of actor per workload
//    i: its derived attested actor
//    spiffe://test.example/node/bench-node/cgroup<governed>/w<i> (Acquire)
//    and its own certificate identity spiffe://test.example/bench/w<i>
//    (the two-step path), whose certificate files are written here;
//  - a private bpffs, a governed cgroup /tg-bench-acquire-<pid>-<rand> with
//    workload cgroups w0..w<n-1>;
//  - the real taogate-agent process on that cgroup (kernel gate attached,
//    ledger fsync on), node certificate spiffe://test.example/node/bench-node,
//    trusting the governor's software root, acquire rate limits lifted.
// Teardown on every path (destructor): agent stopped, gate detached, bpffs
// unmounted, cgroups destroyed (their processes killed), governor stopped,
// temp dirs removed. Not thread-safe. TG_BENCH_NOFSYNC=1 turns fdatasync
// off in both ledgers (diagnosis only: how much is the disk).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "governance/governor_testing.h"
#include "taogate/bpf/cgroup.h"

namespace taogate::bench::acquire {

inline constexpr char kNodeId[] = "bench-node";

// Accepts and closes connections on 127.0.0.1:<port> until destroyed.
class Listener {
 public:
  Listener();
  ~Listener();
  int port() const { return port_; }
  uint64_t accepted() const { return accepted_.load(); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

struct AcquireEnv {
  std::string tmp, bpffs, pin_root, cgroup2, governed_rel, agent_socket, agent_log;
  std::string hold_socket;  // the agent's hold mode socket (bench/hold)
  bpf::ScopedCgroup governed;
  std::vector<uint64_t> workload_ids;  // of w0..w<n-1>
  std::unique_ptr<Listener> target;
  std::unique_ptr<governance::testing::GovernorProcess> governor;
  pid_t agent_pid = -1;

  std::string WorkloadRel(int i) const { return governed_rel + "/w" + std::to_string(i); }
  std::string WorkloadAbs(int i) const { return cgroup2 + WorkloadRel(i); }
  // The two-step path's mTLS files of workload i (ca.crt is shared).
  std::string CaFile() const { return tmp + "/ca.crt"; }
  std::string CertFile(int i) const { return tmp + "/w" + std::to_string(i) + ".crt"; }
  std::string KeyFile(int i) const { return tmp + "/w" + std::to_string(i) + ".key"; }
  ~AcquireEnv();
};

// Creates all of the above for `workloads` workload cgroups.
absl::Status SetUpAcquireEnv(AcquireEnv& env, int workloads);

}  // namespace taogate::bench::acquire
