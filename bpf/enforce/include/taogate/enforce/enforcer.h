// taogate::enforce: picks, per capability, the kernel mechanism that enforces
// it on the running kernel, and routes file, exec and self-protection rules
// to that mechanism.
//
//   capability       BPF LSM kernel (lsm=...,bpf)      other kernels
//   network-inet     cgroup/connect4|6, sendmsg4|6     same (enforcing)
//   network-unix     cgroup/connect_unix (literal path; degraded)
//   files            lsm/file_open (+ path hooks)      tp_btf/sys_exit kill (degraded)
//   exec             lsm/bprm_check_security           tp_btf/sched_process_exec kill (degraded)
//   self-protection  lsm/task_kill, ptrace, bpf, ...   absent
//   kill-switch      cgroup_skb + tp_btf/sys_enter     same (enforcing)
//
// This class is the one place that decides which mechanism enforces what.
// Network stays on the cgroup hooks on every kernel: they carry the grant
// protocol, quarantine, EXERCISED events and unspecified-destination
// rewriting; the BPF LSM programs have no network path at all
// (docs/decisions.md, "One network enforcement path").
//
// LSM lifecycle: Open() loads a fresh set of LSM programs, governs the
// governed root and protects the agent's pids; the caller then adds its
// rules and calls Commit(), which pins the new set and only then removes the
// previous agent's pins. Until Commit the previous pinned set keeps
// enforcing alongside the new one, so neither a restart nor a start that
// fails half way (the new programs die with this object) leaves a window
// without file, exec and self-protection enforcement. The gate's fallback
// hooks are pinned by bpf::Gate itself.
//
// Rules are kept per (source, path, kind, subtree) -- "config" rules and
// "governor" rules never replace each other -- and each inode carries the
// union of the deny bits of every rule that resolves to it (hard links,
// a path named by two sources). The inode is resolved when the rule is
// added (a file replaced by rename() later is a new inode: protect its
// directory with a subtree rule to cover files that do not exist yet).
//
// Thread safety: all methods may be called from several threads (one mutex);
// PollLsmEvents from one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpflsm/lsm_loader.h"

namespace taogate::enforce {

enum class Mechanism { kLsm, kCgroupHooks, kKillOnSyscall, kNone };
std::string_view MechanismName(Mechanism m);  // "bpf-lsm", "cgroup-bpf", "kill-on-syscall", "none"

struct Capability {
  std::string name;        // "network-inet", "network-unix", "files", "exec", "self-protection", "kill-switch"
  Mechanism mechanism = Mechanism::kNone;
  bpf::HookState state = bpf::HookState::kAbsent;
  std::string hooks;       // the programs, e.g. "lsm/file_open"
  std::string detail;      // what is degraded, or why absent
};

enum class LsmMode { kAuto, kOff, kRequire };

struct EnforcerOptions {
  std::string cgroup2_mount;    // cgroup v2 mount point
  std::string governed_cgroup;  // absolute path of the governed root
  // bpffs directory for the LSM pins (e.g. <pin_root>/lsm); empty: the LSM
  // programs live as long as this object (tests).
  std::string lsm_pin_dir;
  LsmMode lsm = LsmMode::kAuto;
  // Processes governed tasks may not signal or ptrace (the agent).
  std::vector<pid_t> protected_pids;
};

// One rule as configured: "r:/path", "w:/path", "rw:/dir/" (trailing slash:
// the directory and everything below), or an exec rule for a binary.
struct PathRule {
  std::string path;   // absolute; trailing '/' stripped
  uint32_t deny = 0;  // bpf::TG_DENY_* bits (gate_format.h)
  bool subtree = false;
};
// Parses "r:PATH", "w:PATH", "rw:PATH" (files) or "PATH" with exec=true.
absl::StatusOr<PathRule> ParseFileRule(std::string_view spec);
absl::StatusOr<PathRule> ParseExecRule(std::string_view path);

// A BPF LSM denial (file, exec, self-protection), for the node ledger.
struct LsmDenial {
  uint64_t cgroup_id = 0;
  uint32_t pid = 0;
  std::string hook;   // "file_open", "bprm_check", "task_kill", ...
  uint64_t ino = 0;
  uint32_t target_pid = 0;
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC (bpf_ktime_get_ns)
};

class Enforcer {
 public:
  // gate: the cgroup gate (for the kill-on-syscall fallback and the network
  // capabilities); may be null when only LSM is wanted (then files and exec
  // are absent where LSM is).
  static absl::StatusOr<std::unique_ptr<Enforcer>> Open(bpf::Gate* gate, const EnforcerOptions& options);
  ~Enforcer();
  Enforcer(const Enforcer&) = delete;
  Enforcer& operator=(const Enforcer&) = delete;

  // True if the BPF LSM programs are loaded and govern the governed root.
  bool lsm() const { return lsm_ != nullptr; }
  // Why LSM is not used, if !lsm().
  const std::string& lsm_detail() const { return lsm_detail_; }

  // Call once, after the start-up rules are in: drops inode rules pinned in
  // the gate by a previous agent that no current rule wants (all of them when
  // BPF LSM enforces files), then pins the LSM programs (if any) and drops the
  // previous agent's LSM pins.
  absl::Status Commit();

  // Adds or replaces the rule (source, rule.path, exec?, rule.subtree),
  // re-resolving its inode. NotFound if the path does not exist;
  // FailedPrecondition when neither LSM nor the fallback is available.
  absl::Status Protect(const PathRule& rule, std::string_view source = "config");
  // Removes that rule (NotFound if absent); the inode keeps the bits of the
  // rules left on it.
  absl::Status Unprotect(const PathRule& rule, std::string_view source = "config");
  // Every rule of `source` on `path`.
  absl::Status Unprotect(const std::string& path, std::string_view source = "config");
  std::vector<PathRule> Rules() const;

  std::vector<Capability> Capabilities() const;

  // Drains LSM denial events (no-op returning 0 without LSM).
  absl::StatusOr<int> PollLsmEvents(int timeout_ms, const std::function<void(const LsmDenial&)>& fn);

 private:
  Enforcer() = default;
  absl::Status DropStaleGateRules();
  // Programs the union of every rule on (dev, ino), or unprotects it.
  absl::Status ApplyInodeLocked(uint64_t dev, uint64_t ino);

  struct Key {
    std::string source, path;
    bool exec = false, subtree = false;
    auto operator<=>(const Key&) const = default;
  };
  struct Installed {
    PathRule rule;
    uint64_t dev = 0, ino = 0;
  };
  EnforcerOptions options_;
  bpf::Gate* gate_ = nullptr;
  std::unique_ptr<bpflsm::LsmGate> lsm_;
  std::string lsm_detail_;
  mutable std::mutex mu_;
  std::map<Key, Installed> rules_;
};

// The same table for `taogatectl probe`, from pinned state and an LSM probe
// (nothing is loaded for long: ProbeLsm attaches and detaches at once).
std::vector<Capability> ProbeCapabilities(const bpf::ProbeReport& gate, const bpflsm::LsmProbe& lsm,
                                          bool lsm_pinned);

}  // namespace taogate::enforce
