#include "taogate/enforce/enforcer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <set>

#include "taogate/bpflsm/lsm_keys.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::enforce {
namespace {

constexpr std::string_view kUnixDetail = "literal path match: another path to the same socket is not matched";

std::string_view HookName(uint8_t hook) {
  switch (hook) {
    case bpf::TG_LSM_HOOK_FILE_OPEN: return "file_open";
    case bpf::TG_LSM_HOOK_BPRM_CHECK: return "bprm_check";
    case bpf::TG_LSM_HOOK_TASK_KILL: return "task_kill";
    case bpf::TG_LSM_HOOK_PTRACE: return "ptrace";
    case bpf::TG_LSM_HOOK_BPF: return "bpf";
    case bpf::TG_LSM_HOOK_PATH_WRITE: return "path_write";
    case bpf::TG_LSM_HOOK_CGROUP_ESCAPE: return "cgroup_escape";
    case bpf::TG_LSM_HOOK_SELF_STATE: return "self_state";
    default: return "unknown";
  }
}

const bpf::HookStatus* FindGateHook(const bpf::ProbeReport& r, std::string_view name) {
  for (const auto& h : r.hooks)
    if (h.name == name) return &h;
  return nullptr;
}

bool LsmHookOn(const std::vector<bpflsm::HookStatus>& hooks, std::string_view hook) {
  for (const auto& h : hooks)
    if (h.hook == hook) return h.enforcing;
  return false;
}

// The network, unix and kill-switch rows come from the cgroup gate alone.
void GateRows(const bpf::ProbeReport& r, std::vector<Capability>& out) {
  auto state_of = [&](std::initializer_list<std::string_view> names, std::string* detail) {
    bpf::HookState worst = bpf::HookState::kEnforcing;
    for (auto n : names) {
      const bpf::HookStatus* h = FindGateHook(r, n);
      bpf::HookState s = h ? h->state : bpf::HookState::kAbsent;
      if (h && !h->detail.empty() && s != bpf::HookState::kEnforcing && detail->empty()) *detail = h->detail;
      if (s == bpf::HookState::kAbsent || (s == bpf::HookState::kDegraded && worst == bpf::HookState::kEnforcing))
        worst = s;
      if (worst == bpf::HookState::kAbsent) break;
    }
    return worst;
  };
  Capability inet{"network-inet", Mechanism::kCgroupHooks, {}, "cgroup/connect4|6, cgroup/sendmsg4|6", ""};
  inet.state = state_of({"connect4", "connect6", "sendmsg4", "sendmsg6"}, &inet.detail);
  Capability unix{"network-unix", Mechanism::kCgroupHooks, {}, "cgroup/connect_unix, cgroup/sendmsg_unix", ""};
  unix.state = state_of({"connect_unix", "sendmsg_unix"}, &unix.detail);
  if (unix.state == bpf::HookState::kEnforcing) {
    unix.state = bpf::HookState::kDegraded;
    unix.detail = std::string(kUnixDetail);
  }
  // The kill switch's hooks attach on demand (while engaged); it is ready
  // whenever the gate itself is in force.
  Capability kill{"kill-switch", Mechanism::kCgroupHooks, {}, "cgroup_skb/egress|ingress, tp_btf/sys_enter", ""};
  kill.state = state_of({"connect4", "connect6"}, &kill.detail);
  if (kill.state != bpf::HookState::kAbsent)
    kill.detail = "cgroup_skb and sys_enter attach while engaged; kill mode acts on the next syscall";
  for (auto* c : {&inet, &unix, &kill})
    if (c->state == bpf::HookState::kAbsent) c->mechanism = Mechanism::kNone;
  out.push_back(std::move(inet));
  out.push_back(std::move(unix));
  out.push_back(std::move(kill));
}

// files / exec / self-protection rows.
void FileRows(bool lsm, const std::vector<bpflsm::HookStatus>& lsm_hooks, const std::string& lsm_why,
              const bpf::ProbeReport* gate, std::vector<Capability>& out) {
  struct Row {
    const char* name;
    const char* lsm_hook;
    const char* lsm_label;
    const char* gate_hook;  // fallback, or null
    const char* gate_label;
  };
  // cgroup-escape: the part of self-protection the gate can fall back on (a
  // governed process leaving the governed tree is killed).
  for (const Row& row : {Row{"files", "file_open", "lsm/file_open, lsm/path_*", "file_open",
                             "tp_btf/sys_exit + SIGKILL"},
                         Row{"exec", "bprm_check_security", "lsm/bprm_check_security", "exec",
                             "tp_btf/sched_process_exec + SIGKILL"},
                         Row{"self-protection", "task_kill", "lsm/task_kill, lsm/ptrace_access_check, lsm/bpf",
                             nullptr, nullptr},
                         Row{"cgroup-escape", "file_open", "lsm/file_open (cgroup.procs outside the tree)",
                             "cgroup_escape", "tp_btf/cgroup_attach_task, sched_process_fork + SIGKILL"}}) {
    Capability c{row.name, Mechanism::kNone, bpf::HookState::kAbsent, "", ""};
    if (lsm && LsmHookOn(lsm_hooks, row.lsm_hook)) {
      c.mechanism = Mechanism::kLsm;
      c.state = bpf::HookState::kEnforcing;
      c.hooks = row.lsm_label;
    } else if (row.gate_hook != nullptr && gate != nullptr) {
      const bpf::HookStatus* h = FindGateHook(*gate, row.gate_hook);
      c.mechanism = Mechanism::kKillOnSyscall;
      c.hooks = row.gate_label;
      c.state = h ? h->state : bpf::HookState::kAbsent;
      c.detail = h ? h->detail : "gate has no fallback hook";
      if (c.state == bpf::HookState::kEnforcing) c.state = bpf::HookState::kDegraded;
    } else {
      c.detail = lsm ? "LSM hook not on this kernel" : StrCat("no BPF LSM: ", lsm_why);
    }
    out.push_back(std::move(c));
  }
}

}  // namespace

std::string_view MechanismName(Mechanism m) {
  switch (m) {
    case Mechanism::kLsm: return "bpf-lsm";
    case Mechanism::kCgroupHooks: return "cgroup-bpf";
    case Mechanism::kKillOnSyscall: return "kill-on-syscall";
    case Mechanism::kNone: return "none";
  }
  return "none";
}

absl::StatusOr<PathRule> ParseFileRule(std::string_view spec) {
  size_t colon = spec.find(':');
  if (colon == std::string_view::npos)
    return absl::InvalidArgumentError(StrCat("file rule \"", spec, "\": want r:PATH, w:PATH or rw:PATH"));
  std::string_view mode = spec.substr(0, colon);
  PathRule r;
  if (mode == "r") r.deny = bpf::TG_DENY_READ;
  else if (mode == "w") r.deny = bpf::TG_DENY_WRITE;
  else if (mode == "rw") r.deny = bpf::TG_DENY_READ | bpf::TG_DENY_WRITE;
  else return absl::InvalidArgumentError(StrCat("file rule \"", spec, "\": mode must be r, w or rw"));
  std::string path(spec.substr(colon + 1));
  if (path.empty() || path[0] != '/')
    return absl::InvalidArgumentError(StrCat("file rule \"", spec, "\": path must be absolute"));
  if (path.size() > 1 && path.back() == '/') {
    r.subtree = true;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
  }
  r.path = std::move(path);
  return r;
}

absl::StatusOr<PathRule> ParseExecRule(std::string_view path) {
  if (path.empty() || path[0] != '/' || path.back() == '/')
    return absl::InvalidArgumentError(StrCat("binary \"", path, "\": want an absolute file path"));
  return PathRule{std::string(path), bpf::TG_DENY_EXEC, false};
}

absl::StatusOr<std::unique_ptr<Enforcer>> Enforcer::Open(bpf::Gate* gate, const EnforcerOptions& options) {
  std::unique_ptr<Enforcer> e(new Enforcer());
  e->options_ = options;
  e->gate_ = gate;
  if (options.lsm == LsmMode::kOff) {
    e->lsm_detail_ = "disabled by configuration";
    return e;
  }
  bpflsm::LsmGate::Options lo;
  lo.quiet = options.lsm == LsmMode::kAuto;
  auto loaded = bpflsm::LsmGate::Load(lo);
  if (!loaded.ok()) {
    if (options.lsm == LsmMode::kRequire) return loaded.status();
    e->lsm_detail_ = std::string(loaded.status().message());
    return e;
  }
  std::unique_ptr<bpflsm::LsmGate> lsm = std::move(*loaded);
  TG_ASSIGN_OR_RETURN(bpflsm::CgroupRef root,
                      bpflsm::ResolveCgroup(options.cgroup2_mount, options.governed_cgroup));
  TG_RETURN_IF_ERROR(lsm->Govern(root));
  for (pid_t pid : options.protected_pids) TG_RETURN_IF_ERROR(lsm->ProtectPid(pid));
  e->lsm_ = std::move(lsm);
  return e;
}

Enforcer::~Enforcer() = default;

absl::Status Enforcer::DropStaleGateRules() {
  if (gate_ == nullptr) return absl::OkStatus();
  TG_ASSIGN_OR_RETURN(auto pinned, gate_->ProtectedInodes());
  std::set<std::pair<uint64_t, uint64_t>> wanted;
  if (!lsm_) {
    std::lock_guard lock(mu_);
    for (const auto& [k, r] : rules_) wanted.emplace(r.dev, r.ino);
  }
  for (const auto& inode : pinned) {
    if (wanted.count(inode)) continue;
    absl::Status st = gate_->UnprotectInode(inode.first, inode.second);
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  return absl::OkStatus();
}

absl::Status Enforcer::Commit() {
  // Rules pinned by a previous agent that no current rule wants (dropped
  // from the config or the bundle while no agent ran, or all of them once
  // BPF LSM enforces files): an unwanted inode number may be reused by an
  // unrelated file, and the global fallback hooks stay attached while any
  // inode is protected.
  TG_RETURN_IF_ERROR(DropStaleGateRules());
  if (!lsm_ || options_.lsm_pin_dir.empty()) return absl::OkStatus();
  const std::string& dir = options_.lsm_pin_dir;
  // bpffs refuses dots in names (reserved): "-next", not ".next".
  const std::string next = dir + "-next";
  std::error_code ec;
  std::filesystem::create_directories(next, ec);
  if (ec) return absl::UnavailableError(StrCat("create ", next, ": ", ec.message()));
  TG_RETURN_IF_ERROR(bpflsm::LsmGate::Unpin(next));  // leftovers of a failed commit
  TG_RETURN_IF_ERROR(lsm_->Pin(next));
  // Ours are pinned: the previous set may go.
  if (std::filesystem::exists(dir, ec)) {
    TG_RETURN_IF_ERROR(bpflsm::LsmGate::Unpin(dir));
    std::filesystem::remove(dir, ec);
    if (ec) return absl::UnavailableError(StrCat("remove ", dir, ": ", ec.message()));
  }
  std::filesystem::rename(next, dir, ec);  // bpffs directories rename like any other
  if (ec) return absl::UnavailableError(StrCat("rename ", next, " -> ", dir, ": ", ec.message(),
                                               " (the new programs stay pinned under ", next, ")"));
  return absl::OkStatus();
}

absl::Status Enforcer::ApplyInodeLocked(uint64_t dev, uint64_t ino) {
  uint32_t deny = 0;
  bool subtree = false;
  for (const auto& [k, r] : rules_)
    if (r.dev == dev && r.ino == ino) {
      deny |= r.rule.deny;
      subtree = subtree || r.rule.subtree;
    }
  if (deny == 0) {
    absl::Status st = lsm_ ? lsm_->UnprotectInode({dev, ino}) : gate_->UnprotectInode(dev, ino);
    return absl::IsNotFound(st) ? absl::OkStatus() : st;
  }
  if (lsm_) return lsm_->ProtectInode(bpf::tg_inode_key{dev, ino}, deny, subtree);
  if (gate_ == nullptr)
    return absl::FailedPreconditionError(
        StrCat("cannot protect inode ", ino, ": no BPF LSM (", lsm_detail_, ") and no cgroup gate"));
  return gate_->ProtectInode(dev, ino, deny, subtree);
}

absl::Status Enforcer::Protect(const PathRule& rule, std::string_view source) {
  if (rule.deny == 0 || (rule.deny & ~uint32_t{bpf::TG_DENY_READ | bpf::TG_DENY_WRITE | bpf::TG_DENY_EXEC}) != 0)
    return absl::InvalidArgumentError(StrCat("rule for ", rule.path, ": bad deny bits ", rule.deny));
  if (!lsm_ && gate_ == nullptr)
    return absl::FailedPreconditionError(
        StrCat("cannot protect ", rule.path, ": no BPF LSM (", lsm_detail_, ") and no cgroup gate"));
  // One stat gives the inode key (following symlinks, as MakeInodeKey does)
  // and the file type.
  struct stat st {};
  if (stat(rule.path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + rule.path);
  if (S_ISDIR(st.st_mode) && (rule.deny & bpf::TG_DENY_EXEC))
    return absl::InvalidArgumentError(StrCat("exec rule for ", rule.path, ": a directory"));
  const bpf::tg_inode_key key{bpflsm::KernelDev(st.st_dev), st.st_ino};
  const Key k{std::string(source), rule.path, (rule.deny & bpf::TG_DENY_EXEC) != 0, rule.subtree};
  std::lock_guard lock(mu_);
  std::optional<Installed> before;
  if (auto it = rules_.find(k); it != rules_.end()) before = it->second;
  rules_[k] = Installed{rule, key.dev, key.ino};
  absl::Status st_new = ApplyInodeLocked(key.dev, key.ino);
  if (!st_new.ok()) {
    // Leave the bookkeeping as the kernel has it.
    if (before) rules_[k] = *before;
    else rules_.erase(k);
    // Re-applies the old rule; if the kernel refuses that too, st_new is
    // still the error to report, and the inode keeps its stricter entry.
    (void)ApplyInodeLocked(key.dev, key.ino);
    return st_new;
  }
  // The path named another inode before (file replaced): that inode keeps
  // only the bits of the rules still on it (a hard link's, say).
  if (before && (before->dev != key.dev || before->ino != key.ino))
    TG_RETURN_IF_ERROR(ApplyInodeLocked(before->dev, before->ino));
  return absl::OkStatus();
}

absl::Status Enforcer::Unprotect(const PathRule& rule, std::string_view source) {
  const Key k{std::string(source), rule.path, (rule.deny & bpf::TG_DENY_EXEC) != 0, rule.subtree};
  std::lock_guard lock(mu_);
  auto it = rules_.find(k);
  if (it == rules_.end()) return absl::NotFoundError(StrCat("no ", source, " rule for ", rule.path));
  Installed gone = it->second;
  rules_.erase(it);
  return ApplyInodeLocked(gone.dev, gone.ino);
}

absl::Status Enforcer::Unprotect(const std::string& path, std::string_view source) {
  std::vector<PathRule> mine;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, r] : rules_)
      if (k.source == source && k.path == path) mine.push_back(r.rule);
  }
  if (mine.empty()) return absl::NotFoundError(StrCat("no ", source, " rule for ", path));
  for (const auto& r : mine) TG_RETURN_IF_ERROR(Unprotect(r, source));
  return absl::OkStatus();
}

std::vector<PathRule> Enforcer::Rules() const {
  std::lock_guard lock(mu_);
  std::vector<PathRule> out;
  for (const auto& [path, r] : rules_) out.push_back(r.rule);
  return out;
}

std::vector<Capability> Enforcer::Capabilities() const {
  std::vector<Capability> out;
  bpf::ProbeReport report;
  if (gate_ != nullptr) report = gate_->Probe();
  if (gate_ != nullptr) GateRows(report, out);
  std::vector<bpflsm::HookStatus> none;
  FileRows(lsm_ != nullptr, lsm_ ? lsm_->hooks() : none, lsm_detail_, gate_ ? &report : nullptr, out);
  return out;
}

absl::StatusOr<int> Enforcer::PollLsmEvents(int timeout_ms, const std::function<void(const LsmDenial&)>& fn) {
  if (!lsm_) return 0;
  TG_ASSIGN_OR_RETURN(std::vector<bpf::tg_lsm_event> events, lsm_->PollEvents(timeout_ms));
  int n = 0;
  for (const auto& ev : events) {
    fn(LsmDenial{ev.cgroup_id, ev.pid, std::string(HookName(ev.hook)), ev.ino, ev.target_pid, ev.time_ns});
    ++n;
  }
  return n;
}

std::vector<Capability> ProbeCapabilities(const bpf::ProbeReport& gate, const bpflsm::LsmProbe& lsm,
                                          bool lsm_pinned) {
  std::vector<Capability> out;
  GateRows(gate, out);
  // "Available" (loads here) is reported as the LSM mechanism only if the
  // agent has it pinned; otherwise the row says what would enforce.
  bool lsm_on = lsm.attach_ok && lsm_pinned;
  FileRows(lsm_on, lsm.hooks, lsm.attach_ok ? "BPF LSM loads but no agent has it pinned" : lsm.detail, &gate, out);
  return out;
}

}  // namespace taogate::enforce
