// The agent's per-capability choice on a BPF-LSM kernel: enforce::Enforcer
// (what taogate-agent uses) must pick BPF LSM for files, exec and
// self-protection when the kernel has it, and its rules must then be refused
// with an error (EACCES/EPERM), not by killing the process as the fallback
// does on kernels without BPF LSM.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include "taogate/enforce/enforcer.h"
#include "vm_util.h"

namespace taogate::vmtest {
namespace {

bool Denied(int err) { return err == EACCES || err == EPERM; }

}  // namespace

void RunEnforcerScenarios(Env& env) {
  const std::string cg = env.cg_mount + "/taogate-vm-enf-" + std::to_string(getpid());
  mkdir(cg.c_str(), 0755);
  const std::string db = env.tmp + "/enf.db", tool = env.tmp + "/enf-tool";
  {
    std::ofstream(db) << "rows";
    std::ifstream in("/bin/busybox", std::ios::binary);
    std::string bin((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(tool, std::ios::binary) << bin;
    chmod(tool.c_str(), 0755);
    chmod(db.c_str(), 0666);
  }
  enforce::EnforcerOptions o;
  o.cgroup2_mount = env.cg_mount;
  o.governed_cgroup = cg;
  o.lsm = enforce::LsmMode::kAuto;  // the agent's default: it must choose LSM here
  o.protected_pids = {env.agent};
  auto e = enforce::Enforcer::Open(nullptr, o);
  if (!e.ok()) {
    Report("enforcer_selects_lsm", false, std::string(e.status().message()));
    Report("enforcer_lsm_denies_not_kills", false, "no enforcer");
    rmdir(cg.c_str());
    return;
  }
  std::string caps;
  bool all_lsm = (*e)->lsm();
  for (const auto& c : (*e)->Capabilities()) {
    caps += (caps.empty() ? "" : "+") + c.name + ":" + std::string(enforce::MechanismName(c.mechanism));
    bool lsm_row = c.name == "files" || c.name == "exec" || c.name == "self-protection";
    if (lsm_row && (c.mechanism != enforce::Mechanism::kLsm || c.state != bpf::HookState::kEnforcing))
      all_lsm = false;
  }
  Report("enforcer_selects_lsm", all_lsm, "caps=" + caps);

  auto wrule = enforce::ParseFileRule("w:" + db);
  auto xrule = enforce::ParseExecRule(tool);
  bool rules = wrule.ok() && xrule.ok() && (*e)->Protect(*wrule).ok() && (*e)->Protect(*xrule).ok();
  int g_write = RunIn(cg, [&] { return OpenErr(db, O_WRONLY); });
  int g_read = RunIn(cg, [&] { return OpenErr(db, O_RDONLY); });
  int g_exec = RunIn(cg, [&] { return ExecTrue(tool); });
  int u_write = RunIn(env.ungov, [&] { return OpenErr(db, O_WRONLY); });
  bool unprotected = (*e)->Unprotect(db).ok();
  int g_write_after = RunIn(cg, [&] { return OpenErr(db, O_WRONLY); });
  // Refused with an errno (a killed child reports 1000 + signal).
  bool pass = rules && Denied(g_write) && g_read == 0 && Denied(g_exec) && u_write == 0 && unprotected &&
              g_write_after == 0;
  Report("enforcer_lsm_denies_not_kills", pass,
         "rules=" + std::string(rules ? "ok" : "failed") + ",write=" + ErrName(g_write) + ",read=" +
             ErrName(g_read) + ",exec=" + ErrName(g_exec) + ",ungoverned_write=" + ErrName(u_write) +
             ",write_after_unprotect=" + ErrName(g_write_after));
  e->reset();  // detaches its programs (not pinned)

  // Restart without a gap: agent 1 pins its programs with a rule and exits;
  // agent 2 loads a fresh set that has no rule yet -- the pinned set must
  // still refuse -- then adds its rules and commits, replacing the pins.
  const std::string pins = env.bpffs + "/enf-lsm";
  o.lsm_pin_dir = pins;
  bool steps = false;
  std::string why;
  auto step = [&](const absl::Status& st, const char* what) {
    if (!st.ok() && why.empty()) why = std::string(what) + ": " + std::string(st.message());
    return st.ok();
  };
  int during = -1, after = -1, released = -1;
  {
    auto e1 = enforce::Enforcer::Open(nullptr, o);
    steps = step(e1.status(), "open1") && step((*e1)->Protect(*wrule), "protect1") &&
            step((*e1)->Commit(), "commit1");
  }  // agent 1 gone: only its pins hold the programs
  auto e2 = enforce::Enforcer::Open(nullptr, o);
  if (steps && step(e2.status(), "open2")) {
    during = RunIn(cg, [&] { return OpenErr(db, O_WRONLY); });  // e2 has no rule yet
    steps = step((*e2)->Protect(*wrule), "protect2") && step((*e2)->Commit(), "commit2");
    after = RunIn(cg, [&] { return OpenErr(db, O_WRONLY); });
    e2->reset();
    released = RunIn(cg, [&] { return OpenErr(db, O_WRONLY); });  // still pinned: still denied
    steps = steps && access((pins + "/link_tg_file_open").c_str(), F_OK) == 0 &&
            access((pins + "-next").c_str(), F_OK) != 0;
  }
  (void)bpflsm::LsmGate::Unpin(pins);
  rmdir(pins.c_str());
  // The last link reference goes with the pin; the kernel may detach it a
  // little later (deferred release on 6.12), so allow up to 3 s.
  int unpinned = -1;
  for (int i = 0; i < 30 && unpinned != 0; ++i) {
    if (i > 0) usleep(100'000);
    unpinned = RunIn(cg, [&] { return OpenErr(db, O_WRONLY); });
  }
  Report("enforcer_restart_no_gap",
         steps && Denied(during) && Denied(after) && Denied(released) && unpinned == 0,
         "steps=" + std::string(steps ? "ok" : "failed:" + why) + ",before_commit=" + ErrName(during) +
             ",after_commit=" + ErrName(after) + ",after_exit=" + ErrName(released) +
             ",after_unpin=" + ErrName(unpinned));
  rmdir(cg.c_str());
}

}  // namespace taogate::vmtest
