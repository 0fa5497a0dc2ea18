// LsmGate: owns taogate's BPF LSM programs (bpf/lsm/lsm_gate.bpf.c), their
// maps and links. Lifecycle: Load() opens the skeleton, picks the programs
// the running kernel's BTF supports (the security_bpf program of the right
// arity; optional hooks only if present), loads and attaches them; the
// destructor destroys the skeleton, which detaches every link not pinned. Pin() pins links and maps into a
// bpffs directory so enforcement outlives this process (fail closed).
//
// Load() fails (nothing stays attached) when the kernel has no BPF LSM, e.g.
// booted without `lsm=...,bpf` or refusing trampolines (EPERM): callers then
// fall back to the cgroup hooks and report file/exec governance as degraded.
// Network targets are not governed here: the cgroup gate is the one network
// path; which mechanism enforces what is decided in enforce::Enforcer.
//
// Not thread-safe: one owner thread (map updates are atomic in the kernel,
// but PollEvents must not run concurrently with itself).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/bpflsm/lsm_keys.h"

struct lsm_gate;      // bpftool skeleton
struct ring_buffer;   // libbpf

namespace taogate::bpflsm {

struct LsmStats {
  uint64_t deny = 0, event_dropped = 0;
};

// One BPF LSM program and whether it enforces on this kernel.
struct HookStatus {
  std::string program;  // e.g. "tg_file_open"
  std::string hook;     // LSM hook, e.g. "file_open"
  bool enforcing = false;
  std::string detail;   // why not, if !enforcing
};

class LsmGate {
 public:
  struct Options {
    bool libbpf_debug = false;  // route libbpf's debug output to stderr
    bool quiet = false;         // no libbpf output at all (probing)
  };

  static absl::StatusOr<std::unique_ptr<LsmGate>> Load(const Options& options);
  ~LsmGate();
  LsmGate(const LsmGate&) = delete;
  LsmGate& operator=(const LsmGate&) = delete;

  // Governed cgroups: only tasks in these cgroups (or below) are affected.
  // Refuses the root cgroup and this process's own cgroup or any ancestor
  // of it (the agent would lose bpf() and signals; the host would stop).
  absl::Status Govern(const CgroupRef& cgroup);
  absl::Status Ungovern(uint64_t cgroup_id);

  // Protected inodes: deny is TG_DENY_*, subtree applies it below a directory.
  absl::Status ProtectInode(const bpf::tg_inode_key& key, uint32_t deny, bool subtree);
  absl::Status UnprotectInode(const bpf::tg_inode_key& key);

  // Processes governed tasks may not signal or ptrace (the agent).
  absl::Status ProtectPid(pid_t tgid);

  // Pins every link and map under `dir` (a bpffs directory) as
  // link_<prog> and map_<map>; they stay in force after this object dies.
  absl::Status Pin(const std::string& dir);
  // Removes every link_tg_* / map_tg_* pin in `dir` (enforcement ends once
  // no fd remains). Static: works after the owning process is gone.
  static absl::Status Unpin(const std::string& dir);

  // Drains denial events, waiting up to timeout_ms for the first.
  absl::StatusOr<std::vector<bpf::tg_lsm_event>> PollEvents(int timeout_ms);
  absl::StatusOr<LsmStats> ReadStats();
  // Per program: attached, or absent on this kernel (optional hooks only;
  // a missing core hook makes Load() fail).
  const std::vector<HookStatus>& hooks() const { return hooks_; }
  // The security_bpf arity detected at load (3 before 6.15, 4 after).
  uint32_t bpf_hook_nargs() const { return bpf_hook_nargs_; }

 private:
  LsmGate() = default;
  absl::Status UpdateLevels();
  absl::Status SelectPrograms();  // autoload per kernel BTF; fills hooks_

  lsm_gate* skel_ = nullptr;      // owned; destroyed last in ~LsmGate
  ring_buffer* events_ = nullptr; // owned; freed before skel_
  std::vector<bpf::tg_lsm_event> pending_;
  std::vector<std::pair<uint64_t, uint32_t>> governed_;  // id, level
  uint32_t bpf_hook_nargs_ = 3;
  std::vector<HookStatus> hooks_;
};

// Kernel support, as `taogatectl probe` reports it.
struct LsmProbe {
  bool bpf_lsm_active = false;   // "bpf" in /sys/kernel/security/lsm
  std::string active_lsms;       // that file's content, or "" if unreadable
  bool attach_ok = false;        // a full Load() succeeded
  std::string detail;            // why not, if !attach_ok
  std::vector<HookStatus> hooks; // per program, if attach_ok
};
// Loads and attaches the programs once and detaches them again. No cgroup is
// governed meanwhile, so no process is affected.
LsmProbe ProbeLsm();

}  // namespace taogate::bpflsm
