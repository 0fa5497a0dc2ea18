// taogate-bench-file-kill: what the kill-on-open fallback costs while it is
// attached (tp_btf/sys_exit + tp_btf/sched_process_exec, attached only while
// some inode is protected).
//
// The sys_exit program is global, so every syscall on the host pays its
// early exit, and every open() pays the syscall-number test; only governed
// opens go on to the fd table and the dentry walk. Measured in one run,
// interleaved: each round protects one unrelated inode (hooks attached),
// times N ops, unprotects it (hooks detached), times N ops, order
// alternating per round; the figure per side is the best round mean.
//
// Metrics (value = hooks attached, baseline = detached, same run):
//   open_close_ungoverned_ns  open(O_RDONLY)+close of an unprotected file
//                             from a process outside the governed tree
//   open_close_governed_ns    the same from inside a governed workload
//                             (governed check, fd table, 16-level walk)
//   getppid_ns                a non-open syscall (the host-wide tax)
//
// Needs root; without it, prints why and emits an empty report.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>

#include "gate_env.h"
#include "report.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/strings.h"

namespace {

using namespace taogate;
using namespace taogate::bpf;

using bench::GateEnv;

// The files the bench opens, and the unrelated inode whose protection
// attaches the hooks, created in the env's temp dir.
struct Files {
  std::string file, guard;
  uint64_t guard_dev = 0, guard_ino = 0;
};

absl::StatusOr<Files> MakeFiles(const GateEnv& env) {
  Files f;
  f.file = env.tmp + "/a/b/c/open-me";
  std::filesystem::create_directories(env.tmp + "/a/b/c");
  f.guard = env.tmp + "/guarded";
  for (const std::string& p : {f.file, f.guard}) {
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "create " + p);
    close(fd);
  }
  struct stat st {};
  if (stat(f.guard.c_str(), &st) != 0) return ErrnoStatus(errno, "stat");
  f.guard_dev = (static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev);
  f.guard_ino = st.st_ino;
  return f;
}

// Interleaved rounds: hooks attached (one unrelated inode protected) vs
// detached. `op` is one timed operation; `cgroup` is where the process sits.
absl::StatusOr<bench::BestOf> Measure(GateEnv& env, const Files& f, const std::string& cgroup,
                                      int rounds, int iters, const std::function<bool()>& op) {
  TG_RETURN_IF_ERROR(bench::MoveSelf(env, cgroup));
  auto best = bench::Interleave(rounds, [&](bool attached) -> absl::StatusOr<double> {
    if (attached) {
      TG_RETURN_IF_ERROR(env.gate->ProtectInode(f.guard_dev, f.guard_ino, TG_DENY_READ | TG_DENY_WRITE, false));
    }
    uint64_t t0 = bench::MonotonicNs();
    for (int i = 0; i < iters; ++i) {
      if (!op()) return ErrnoStatus(errno, "timed op");
    }
    double mean = static_cast<double>(bench::MonotonicNs() - t0) / iters;
    if (attached) TG_RETURN_IF_ERROR(env.gate->UnprotectInode(f.guard_dev, f.guard_ino));
    return mean;
  });
  TG_RETURN_IF_ERROR(best.status());
  TG_RETURN_IF_ERROR(bench::MoveSelf(env, env.home_cg));
  return best;
}

absl::Status Run(bench::Report& report, bool quick) {
  GateEnv env;
  TG_RETURN_IF_ERROR(bench::SetUpGateEnv(env, "taogate-bench-file", /*with_baseline=*/false));
  TG_ASSIGN_OR_RETURN(Files files, MakeFiles(env));
  int rounds = quick ? 6 : 40, iters = quick ? 2000 : 20000;
  auto open_close = [&] {
    int fd = open(files.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    close(fd);
    return true;
  };
  auto getppid_op = [] { return getppid() > 0; };
  struct Case {
    const char* name;
    std::string cgroup;
    std::function<bool()> op;
  };
  std::string outside = env.home_cg;
  for (const Case& c : {Case{"open_close_ungoverned_ns", outside, open_close},
                        Case{"open_close_governed_ns", env.workload.path(), open_close},
                        Case{"getppid_ns", outside, getppid_op}}) {
    TG_ASSIGN_OR_RETURN(bench::BestOf best, Measure(env, files, c.cgroup, rounds, iters, c.op));
    report.Add({c.name, best.hooked, "ns", best.base,
                {{"rounds", rounds}, {"iters", iters}, {"protected_inodes", 1}}});
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
    std::cout << "taogate-bench-file-kill: skipped (needs root for BPF and cgroups)\n";
    return report.Emit(json) ? 0 : 1;
  }
  absl::Status s = Run(report, quick);
  if (!s.ok()) {
    std::cerr << "taogate-bench-file-kill: " << s.message() << "\n";
    return 1;
  }
  return report.Emit(json) ? 0 : 1;
}
