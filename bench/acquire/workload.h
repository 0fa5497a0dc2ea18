// The workload side of taogate-bench-acquire: the bench re-executes itself
// as `taogate-bench-acquire --workload MODE ...` inside a workload cgroup
// (the cgroup is joined between fork and exec, so the process is governed
// from its first instruction). Modes:
//   acquire   Agent.Acquire on the workload socket (the agent attests, asks
//             the governor over its node mTLS identity, redeems, grants),
//             then one connect to the target.
//   two-step  today's path: RequestAuthorization to the governor over the
//             workload's own mTLS certificate, Redeem on the agent socket,
//             then one connect.
//   probe     one connect with no grant; exit 0 if the gate refused it (EPERM).
// acquire and two-step run `warmup` untimed iterations (TLS handshakes, the
// agent's executable hash), print "R" on stdout, wait for one byte on stdin,
// then repeat the timed iteration for `duration_ms` and write a Samples file.
// Any failed iteration is counted; the exit code is 0 only if none failed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taogate::bench::acquire {

struct WorkloadArgs {
  std::string mode;
  std::string agent_socket;
  int target_port = 0;
  // two-step only: the governor and this workload's own mTLS identity.
  std::string governor_address;
  std::string ca_file, cert_file, key_file;
  std::string node_id;
  std::string cgroup_path;  // relative to the cgroup2 mount, as the governor binds it
  uint64_t cgroup_id = 0;
  int warmup = 5;
  int duration_ms = 3000;
  std::string out_file;

  std::vector<std::string> ToArgv(const std::string& self) const;
  static bool Parse(int argc, char** argv, WorkloadArgs* out);  // argv[1] == "--workload"
};

// What a workload writes: CLOCK_MONOTONIC start and end of its timed loop,
// failed iterations, the CPU time it used in the loop and one latency (ns)
// per successful iteration.
struct Samples {
  int64_t start_ns = 0, end_ns = 0, errors = 0, cpu_ns = 0;
  std::vector<int64_t> latency_ns;
  bool Write(const std::string& path) const;
  static bool Read(const std::string& path, Samples* out);
};

// Runs the workload; returns the process exit code.
int RunWorkload(const WorkloadArgs& args);

}  // namespace taogate::bench::acquire
