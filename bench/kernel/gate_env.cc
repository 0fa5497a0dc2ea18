#include "gate_env.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::bench {

GateEnv::~GateEnv() {
  // Best effort, in a destructor: a bench that cannot go home or detach
  // leaves a cgroup or pin behind for the operator, never a wrong figure.
  if (!home_cg.empty()) (void)bpf::MoveToCgroup(getpid(), home_cg);
  gate.reset();
  if (!pin_root.empty()) (void)bpf::Gate::Detach(pin_root);
  if (!bpffs.empty()) umount2(bpffs.c_str(), MNT_DETACH);
  workload = bpf::ScopedCgroup();
  governed = bpf::ScopedCgroup();
  baseline = bpf::ScopedCgroup();
  std::error_code ec;
  if (!tmp.empty()) std::filesystem::remove_all(tmp, ec);
}

absl::Status SetUpGateEnv(GateEnv& env, const std::string& name, bool with_baseline,
                          bpf::GateOptions options) {
  TG_ASSIGN_OR_RETURN(std::string mnt, bpf::Cgroup2Mount());
  TG_ASSIGN_OR_RETURN(env.home_cg, bpf::CgroupPathOfPid(getpid()));
  std::string t = "/tmp/" + name + "-XXXXXX";
  if (!mkdtemp(t.data())) return ErrnoStatus(errno, "mkdtemp");
  env.tmp = t;
  std::string fs = t + "/bpffs";
  if (mkdir(fs.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir bpffs");
  if (mount("bpf", fs.c_str(), "bpf", 0, "mode=0700") != 0) return ErrnoStatus(errno, "mount bpffs");
  env.bpffs = fs;
  env.pin_root = fs + "/taogate";
  std::string base = StrCat(mnt, "/", name, "-", getpid());
  TG_ASSIGN_OR_RETURN(env.governed, bpf::ScopedCgroup::Create(base));
  TG_ASSIGN_OR_RETURN(env.workload, bpf::ScopedCgroup::Create(base + "/w"));
  if (with_baseline) {
    TG_ASSIGN_OR_RETURN(env.baseline, bpf::ScopedCgroup::Create(base + "-baseline"));
  }
  options.pin_root = env.pin_root;
  options.governed_cgroup = env.governed.path();
  TG_ASSIGN_OR_RETURN(env.gate, bpf::Gate::OpenOrAdopt(options));
  return absl::OkStatus();
}

}  // namespace taogate::bench
