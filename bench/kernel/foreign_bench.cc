// taogate-bench-foreign-socket: cost of the root-attached hooks that judge
// sockets created outside the governed tree (gate_foreign.bpf.h).
//
// foreign_connect4 is attached at the cgroup2 root, so it runs for every TCP
// connect on the host. The bench detaches the gate's pinned link and, per
// half-round, attaches the same program (hooked) or not (base), then times
// socket+connect+accept+close cycles (as taogate-bench-connect), rounds
// interleaved, best round mean per side:
//   foreign_hook_overhead {caller=ungoverned}: a process outside the governed
//       tree (any process on the host): config lookup, ancestor id, compare.
//   foreign_hook_overhead {caller=governed}: a governed process connecting
//       its own socket to an unprotected destination: the above plus the
//       socket's cgroup read (the governed-root program runs in both halves).
//   foreign_connect4_prog_ns {caller}: mean run time of the program
//       (BPF_ENABLE_STATS, which itself adds two clock reads per run).
// Needs root; without it, prints why and emits an empty report.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "gate_env.h"
#include "report.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace {

using namespace taogate;
using bench::GateEnv;
using bench::MonotonicNs;

using Listener = bench::LoopbackListener;
constexpr auto Listen = bench::ListenLoopback;
constexpr auto Cycle = bench::ConnectCycle;

// The program behind the gate's pinned foreign_connect4 link; the link itself
// is detached so that the bench decides when the program runs.
absl::StatusOr<UniqueFd> TakeProgram(const std::string& pin_root) {
  std::string path = pin_root + "/links/foreign_connect4";
  UniqueFd link(bpf_obj_get(path.c_str()));
  if (!link) return ErrnoStatus(errno, "open " + path + " (kernel without the root hooks?)");
  bpf_link_info li{};
  uint32_t len = sizeof(li);
  if (bpf_obj_get_info_by_fd(link.get(), &li, &len) != 0) return ErrnoStatus(errno, "link info");
  UniqueFd prog(bpf_prog_get_fd_by_id(li.prog_id));
  if (!prog) return ErrnoStatus(errno, "prog fd");
  if (bpf_link_detach(link.get()) != 0) return ErrnoStatus(errno, "detach " + path);
  return prog;
}

// The program's cumulative {run_time_ns, run_cnt} (BPF_ENABLE_STATS).
std::pair<uint64_t, uint64_t> ProgRunStats(int prog_fd) {
  bpf_prog_info pi{};
  uint32_t len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(prog_fd, &pi, &len) != 0) return {0, 0};
  return {pi.run_time_ns, pi.run_cnt};
}

absl::Status Run(bench::Report& report, bool quick) {
  GateEnv env;
  TG_RETURN_IF_ERROR(bench::SetUpGateEnv(env, "taogate-bench-foreign", /*with_baseline=*/true));
  TG_ASSIGN_OR_RETURN(UniqueFd prog, TakeProgram(env.pin_root));
  TG_ASSIGN_OR_RETURN(std::string mnt, bpf::Cgroup2Mount());
  UniqueFd root(open(mnt.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return ErrnoStatus(errno, "open " + mnt);
  const int rounds = quick ? 5 : 80, iters = quick ? 100 : 250;
  Listener open_dst = Listen(0);
  UniqueFd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
  for (const char* caller : {"ungoverned", "governed"}) {
    const std::string& cg =
        std::strcmp(caller, "governed") == 0 ? env.workload.path() : env.baseline.path();
    TG_RETURN_IF_ERROR(bench::MoveSelf(env, cg));
    auto [ns0, cnt0] = ProgRunStats(prog.get());
    auto best = bench::Interleave(rounds, [&](bool hooked) -> absl::StatusOr<double> {
      UniqueFd link;
      if (hooked) {
        link = UniqueFd(bpf_link_create(prog.get(), root.get(), BPF_CGROUP_INET4_CONNECT, nullptr));
        if (!link) return ErrnoStatus(errno, "attach foreign_connect4");
      }
      // Attaching or detaching at the root rebuilds every cgroup's program
      // array and frees the old ones after RCU: settle before timing.
      for (int i = 0; i < iters / 4; ++i) {
        if (Cycle(open_dst) == 0) return ErrnoStatus(errno, "connect");
      }
      uint64_t total = 0;
      for (int i = 0; i < iters; ++i) {
        uint64_t ns = Cycle(open_dst);
        if (ns == 0) return ErrnoStatus(errno, "connect");
        total += ns;
      }
      return static_cast<double>(total) / iters;
    });
    TG_RETURN_IF_ERROR(bench::MoveSelf(env, env.home_cg));
    TG_RETURN_IF_ERROR(best.status());
    report.Add({"foreign_hook_overhead", best->hooked, "ns", best->base, {{"caller", caller}}});
    auto [ns1, cnt1] = ProgRunStats(prog.get());
    double mean = cnt1 > cnt0 ? static_cast<double>(ns1 - ns0) / static_cast<double>(cnt1 - cnt0) : 0;
    report.Add({"foreign_connect4_prog_ns", mean, "ns", std::nullopt, {{"caller", caller}}});
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick |= std::strcmp(argv[i], "--quick") == 0;
  taogate::bench::Report report;
  std::string json = taogate::bench::JsonPathFromArgs(argc, argv);
  if (geteuid() != 0) {
    std::cout << "taogate-bench-foreign-socket: skipped (needs root for BPF and cgroups)\n";
    return report.Emit(json) ? 0 : 1;
  }
  absl::Status s = Run(report, quick);
  if (!s.ok()) {
    std::cerr << "taogate-bench-foreign-socket: " << s.message() << "\n";
    return 1;
  }
  return report.Emit(json) ? 0 : 1;
}
