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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>

#include "report.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/strings.h"

namespace {

using namespace taogate;
using namespace taogate::bpf;

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// Everything the run creates, removed on every path.
struct Env {
  std::string tmp, bpffs, pin_root, home_cg, file, guard;
  uint64_t guard_dev = 0, guard_ino = 0;
  ScopedCgroup governed, workload;
  std::unique_ptr<Gate> gate;
  ~Env() {
    if (!home_cg.empty()) (void)MoveToCgroup(getpid(), home_cg);
    gate.reset();
    if (!pin_root.empty()) (void)Gate::Detach(pin_root);
    if (!bpffs.empty()) umount2(bpffs.c_str(), MNT_DETACH);
    workload = ScopedCgroup();
    governed = ScopedCgroup();
    std::error_code ec;
    if (!tmp.empty()) std::filesystem::remove_all(tmp, ec);
  }
};

absl::Status Setup(Env& env) {
  TG_ASSIGN_OR_RETURN(std::string mnt, Cgroup2Mount());
  TG_ASSIGN_OR_RETURN(env.home_cg, CgroupPathOfPid(getpid()));
  std::string t = "/tmp/taogate-bench-file-XXXXXX";
  if (!mkdtemp(t.data())) return ErrnoStatus(errno, "mkdtemp");
  env.tmp = t;
  std::string fs = t + "/bpffs";
  if (mkdir(fs.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir bpffs");
  if (mount("bpf", fs.c_str(), "bpf", 0, "mode=0700") != 0) return ErrnoStatus(errno, "mount bpffs");
  env.bpffs = fs;
  env.pin_root = fs + "/taogate";
  env.file = t + "/a/b/c/open-me";
  std::filesystem::create_directories(t + "/a/b/c");
  env.guard = t + "/guarded";
  for (const std::string& p : {env.file, env.guard}) {
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "create " + p);
    close(fd);
  }
  struct stat st {};
  if (stat(env.guard.c_str(), &st) != 0) return ErrnoStatus(errno, "stat");
  env.guard_dev = (static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev);
  env.guard_ino = st.st_ino;
  std::string base = StrCat(mnt, "/taogate-bench-file-", getpid());
  TG_ASSIGN_OR_RETURN(env.governed, ScopedCgroup::Create(base));
  TG_ASSIGN_OR_RETURN(env.workload, ScopedCgroup::Create(base + "/w"));
  GateOptions o;
  o.pin_root = env.pin_root;
  o.governed_cgroup = env.governed.path();
  TG_ASSIGN_OR_RETURN(env.gate, Gate::OpenOrAdopt(o));
  return absl::OkStatus();
}

struct Side {
  double best = 1e18;
};

// Interleaved rounds: hooks attached (one unrelated inode protected) vs
// detached. `op` is one timed operation; `cgroup` is where the process sits.
absl::Status Measure(Env& env, const std::string& cgroup, int rounds, int iters,
                     const std::function<bool()>& op, Side& hooked, Side& base) {
  TG_RETURN_IF_ERROR(MoveToCgroup(getpid(), cgroup));
  for (int r = 0; r < rounds; ++r) {
    for (int half = 0; half < 2; ++half) {
      bool attached = (r + half) % 2 == 0;
      if (attached) {
        TG_RETURN_IF_ERROR(
            env.gate->ProtectInode(env.guard_dev, env.guard_ino, TG_DENY_READ | TG_DENY_WRITE, false));
      }
      uint64_t t0 = NowNs();
      for (int i = 0; i < iters; ++i) {
        if (!op()) return ErrnoStatus(errno, "timed op");
      }
      double mean = static_cast<double>(NowNs() - t0) / iters;
      if (attached) TG_RETURN_IF_ERROR(env.gate->UnprotectInode(env.guard_dev, env.guard_ino));
      Side& s = attached ? hooked : base;
      s.best = std::min(s.best, mean);
    }
  }
  return MoveToCgroup(getpid(), env.home_cg);
}

absl::Status Run(bench::Report& report, bool quick) {
  Env env;
  TG_RETURN_IF_ERROR(Setup(env));
  int rounds = quick ? 6 : 40, iters = quick ? 2000 : 20000;
  auto open_close = [&] {
    int fd = open(env.file.c_str(), O_RDONLY | O_CLOEXEC);
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
    Side hooked, base;
    TG_RETURN_IF_ERROR(Measure(env, c.cgroup, rounds, iters, c.op, hooked, base));
    report.Add({c.name, hooked.best, "ns", base.best,
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
