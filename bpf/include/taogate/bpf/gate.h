// taogate::bpf::Gate: loads, attaches, pins and adopts the kernel gate
// (bpf/progs/gate.bpf.c) and programs its maps. Map formats: gate_format.h.
//
// Lifecycle. OpenOrAdopt() loads the programs, reuses every map already
// pinned under <pin_root>/maps (grants, targets, quarantine survive), and for
// each hook either atomically swaps the program inside an already-pinned link
// (BPF_LINK_UPDATE: no instant without enforcement) or attaches and pins a
// new link under <pin_root>/links. Destroying a Gate closes its fds only:
// pinned links stay attached, so enforcement outlives the process (fail
// closed). Only Detach() -- an explicit operator action -- removes it.
//
// Workloads. Grants, quarantine and events are keyed on the caller's
// *workload id*, the id of a workload-level ancestor cgroup (rule:
// gate_format.h, "Workload"), so a grant serves every container and nested
// cgroup below that cgroup. Governed-root mode (default): the workload is
// the direct child of the governed root and every caller is governed. Pods
// mode (GateOptions::pods; the root is kubelet's kubepods cgroup): the
// workload is the pod cgroup, one level below the root (Guaranteed) or two
// (below a QoS cgroup registered with SetWorkload(kNested)); a pod is
// governed unless SetWorkload marked it kUngoverned, so an unclassified pod
// cgroup, or a process directly in the root or in a QoS cgroup, is governed
// with no grant (fail closed). WorkloadIdOfPid() resolves a pid the same
// way. Each grant allows exactly one connect (or one unconnected datagram);
// see consume_grant() in gate.bpf.c for why exactly one racer wins.
//
// Thread safety: all methods may be called concurrently except PollEvents,
// which must be called from one thread at a time.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taogate/bpf/gate_format.h"  // TG_DENY_* (ProtectInode)
#include "taogate/common/status.h"
#include "taogate/target/target.h"

struct gate_bpf;
struct ring_buffer;

namespace taogate::bpf {
namespace internal {
struct HookDef;
struct DemandState;
}

enum class Mode { kProtectListed = 0, kDenyAllExceptAllowlisted = 1 };
enum class Proto : uint8_t { kAny = 0, kTcp = 6, kUdp = 17 };
// kAudit: protected in audit mode (docs/audit-mode.md): needs a grant like
// kProtect, but what would be denied is allowed and reported (event audit).
enum class TargetKind : uint32_t { kProtect = 1, kAllow = 2, kAudit = 3 };
enum class QuarantineMode : uint32_t { kNetwork = 1, kKill = 3 };  // kill includes network
enum class HookState { kEnforcing, kDegraded, kAbsent };
// tg_workloads kinds (gate_format.h): kNested marks a QoS cgroup whose
// children are the workloads.
enum class WorkloadKind : uint32_t { kGoverned = 1, kUngoverned = 2, kNested = 3 };

struct GateOptions {
  std::string pin_root = "/sys/fs/bpf/taogate";
  std::string governed_cgroup;  // absolute path of the governed subtree root
  Mode mode = Mode::kProtectListed;
  // Mount a bpffs instance on pin_root's parent if it is not one already.
  // Without it, a missing bpffs is FailedPrecondition.
  bool mount_bpffs = false;
  // Map sizes for newly created maps (adopted maps keep theirs).
  uint32_t max_grants = 65536;
  uint32_t max_targets = 65536;  // per family, after port-range expansion
  bool verbose = false;          // libbpf debug messages to stderr
  // The kill-on-syscall hook (tp_btf/sys_enter) is global: while attached,
  // every syscall on the host takes the tracing slow path (~+120 ns each,
  // measured here). By default it is attached only while a kill quarantine
  // is engaged (and stays pinned while it is). true: always attached, which
  // also kills a governed process on socket(AF_PACKET).
  bool syscall_hook_always = false;
  // Load the kill-on-open / kill-on-exec fallback (tp_btf/sys_exit,
  // tp_btf/sched_process_exec; attached only while ProtectInode entries
  // exist). false, e.g. where the BPF LSM gate enforces files: the hooks are
  // reported absent and ProtectInode fails. If the kernel refuses to load
  // them, the gate loads without them and reports why.
  bool file_hooks = true;
  // Pods mode (see "Workloads" above): governed_cgroup is kubelet's kubepods
  // root and tg_workloads says which pods are governed. Written into the
  // config on every open, so reopening pinned state with the other value
  // switches it in one map update.
  bool pods = false;
};

// Targets are target::Target values (taogate/target/target.h): AddTarget
// takes a protected-form IP target (tcp/udp/any, Host::kPrefix, ports or
// every port) or a unix target; InstallGrant a single destination
// (target.single_destination()). The gate builds every kernel key from them
// (bpf/src/target.h); nothing outside bpf/ knows the key layouts.

using TaoId = std::array<uint8_t, 16>;

enum class Verdict : uint32_t {
  kAllowGrant = 1, kDeny = 2, kDenyQuarantine = 3, kDenyRaw = 4, kKill = 5, kDenyExpired = 6,
};
std::string_view VerdictName(Verdict v);

struct DecisionEvent {
  uint64_t time_ns = 0;     // CLOCK_MONOTONIC
  uint64_t cgroup_id = 0;   // workload cgroup id
  TaoId tao_id{};           // kAllowGrant only
  Verdict verdict = Verdict::kDeny;
  std::string hook;         // "connect4", "sendmsg6", "connect_unix", ...
  uint32_t pid = 0;         // tgid
  int family = 0;           // AF_INET, AF_INET6, AF_UNIX, AF_PACKET
  uint8_t proto = 0;
  uint16_t port = 0;
  std::string address;      // IP text, or the first 16 bytes of a unix path
  // hooks "file_open" / "exec": the matching rule's inode (the file, or the
  // protected directory above it) and the deny bits that matched (proto).
  uint64_t dev = 0;         // kernel s_dev encoding
  uint64_t ino = 0;
  // Audit mode allowed this connect/sendmsg; verdict (kDeny, kDenyExpired)
  // is what enforce mode would have done ("WOULD_DENY").
  bool audit = false;
};

struct HookStatus {
  std::string name;     // "connect4", ..., "sys_enter"
  HookState state = HookState::kAbsent;
  std::string detail;   // how it is degraded, or why absent
};
struct ProbeReport {
  std::vector<HookStatus> hooks;
};
std::string_view HookStateName(HookState s);

class Gate {
 public:
  static absl::StatusOr<std::unique_ptr<Gate>> OpenOrAdopt(const GateOptions& options);

  // Explicit operator action: detaches every pinned link under pin_root and
  // removes the pins (maps go away once no process holds them).
  static absl::Status Detach(const std::string& pin_root);

  // Per hook state from the links pinned under pin_root, without loading
  // anything: enforcing/degraded only if a pinned link is attached.
  static ProbeReport ProbePinned(const std::string& pin_root);

  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  // True if OpenOrAdopt found pinned state and took it over.
  bool adopted() const { return adopted_; }
  uint64_t governed_root_id() const { return governed_root_id_; }
  uint32_t governed_level() const { return governed_level_; }
  const GateOptions& options() const { return options_; }
  bool pods() const { return options_.pods; }

  // The grant key for a caller, resolved as the hooks do (see "Workloads"),
  // e.g. for the peer of the agent's unix socket (SO_PEERCRED). NotFound if
  // pid is not below the governed root, or (pods mode) is in an ungoverned
  // pod; pods mode, FailedPrecondition if pid is governed but has no
  // workload cgroup (directly in the root or in a QoS cgroup: no grant can
  // serve it).
  absl::StatusOr<uint64_t> WorkloadIdOfPid(pid_t pid) const;

  // Pods mode: classifies a pod cgroup (kGoverned / kUngoverned) or a QoS
  // cgroup (kNested) by its cgroup id; insert or replace, effective for the
  // next hook invocation. pod_index is stored for the caller, unread by the
  // kernel. FailedPrecondition if the gate is not in pods mode.
  absl::Status SetWorkload(uint64_t cgroup_id, WorkloadKind kind, uint32_t pod_index = 0);
  // NotFound if absent. The cgroup becomes unclassified: governed.
  absl::Status RemoveWorkload(uint64_t cgroup_id);
  // Every tg_workloads entry (any mode; read only in pods mode).
  absl::StatusOr<std::map<uint64_t, WorkloadKind>> Workloads() const;
  // For a deleted pod: ends its audit mode (tg_audit; not counted), removes
  // its grants (IP and unix), its tg_workloads
  // entry and then its quarantine entry (releasing last: a still-running
  // pod is never looser on the way); quarantine_armed and the on-demand
  // hooks follow as after Release. Returns how many entries went (0 if
  // none existed). Works in either mode.
  absl::StatusOr<size_t> ForgetWorkload(uint64_t cgroup_id);

  // kind kAllow: an allowlisted destination (deny-all mode).
  absl::Status AddTarget(const target::Target& t, TargetKind kind = TargetKind::kProtect);
  absl::Status RemoveTarget(const target::Target& t);

  // The target-map entry that decides a destination as the hooks look it up
  // (exact port first, then the every-port entry; longest prefix), or
  // nullopt if none matches. dest is a single destination; anything else
  // matches nothing. A map that cannot be read matches nothing.
  std::optional<TargetKind> LookupTarget(const target::Target& dest) const;
  // True if a connect to dest needs a grant: in protect-listed mode, a
  // PROTECT or AUDIT entry matches; in deny-all mode, no ALLOW entry matches.
  bool IsProtected(const target::Target& dest) const;
  // Workloads in the quarantine map; whether the all-workloads kill switch
  // is set in tg_config.
  absl::StatusOr<uint64_t> QuarantinedCount() const;
  absl::StatusOr<bool> QuarantineAllEngaged() const;

  // Installs a one-shot grant. AlreadyExists if an unconsumed, unexpired grant
  // holds the same key; any other failure is an error (never silently
  // dropped). expiry_mono_ns is CLOCK_MONOTONIC (bpf_ktime_get_ns).
  absl::Status InstallGrant(uint64_t cgroup_id, const target::Target& dest, const TaoId& tao_id,
                            uint64_t expiry_mono_ns);
  // A grant for a set of destinations (a named TAO: every current address of
  // the name, one protocol and port) that admits ONE connect to any of them:
  // the first consumes the set's token, which voids the others. At most
  // kMaxGrantSet destinations; a single one is InstallGrant. AlreadyExists if
  // any member collides with a live grant (nothing is left installed then).
  static constexpr size_t kMaxGrantSet = 32;
  absl::Status InstallGrantSet(uint64_t cgroup_id, const std::vector<target::Target>& dests,
                               const TaoId& tao_id, uint64_t expiry_mono_ns);
  absl::Status RevokeGrant(uint64_t cgroup_id, const target::Target& dest);
  // Deletes expired or consumed grants (and members of spent sets); returns
  // how many entries.
  absl::StatusOr<size_t> SweepExpiredGrants();
  absl::StatusOr<size_t> GrantCount();

  absl::Status Quarantine(uint64_t cgroup_id, QuarantineMode mode);
  absl::Status Release(uint64_t cgroup_id);
  // Audit mode for a whole workload (tg_audit, docs/audit-mode.md): every
  // target it would be denied is allowed and reported instead; its grants
  // are never consumed; quarantine still denies. on = false ends it (absent
  // is not an error). AuditedWorkloads: the ids, sorted.
  absl::Status SetAuditWorkload(uint64_t cgroup_id, bool on);
  absl::StatusOr<std::vector<uint64_t>> AuditedWorkloads() const;
  absl::Status QuarantineAll(QuarantineMode mode);
  absl::Status ReleaseAll();

  // Protected files (kill-on-open / kill-on-exec fallback, gate_file.bpf.h;
  // tg_inodes in gate_format.h). kdev is the kernel's s_dev encoding
  // (major << 20) | minor, NOT stat()'s st_dev: use bpflsm::KernelDev /
  // bpflsm::MakeInodeKey. deny is TG_DENY_READ | TG_DENY_WRITE | TG_DENY_EXEC
  // (gate_format.h; other bits are stored but ignored); subtree: the bits also apply to everything below a directory.
  // A governed process that opens (read / write) or execs a matching inode
  // is SIGKILLed before it runs user code again (reported DEGRADED: the
  // open or exec itself completes). The two global tracing hooks ("file_open",
  // "exec") are attached before the first entry is inserted and detached
  // after the last is removed; ProtectInode fails (and inserts nothing) if
  // they cannot be attached. Re-protecting an inode replaces its bits.
  absl::Status ProtectInode(uint64_t kdev, uint64_t ino, uint32_t deny, bool subtree);
  // NotFound if the inode was not protected.
  absl::Status UnprotectInode(uint64_t kdev, uint64_t ino);
  absl::StatusOr<size_t> ProtectedInodeCount();
  // Every protected inode as {kdev, ino} (e.g. to drop stale pinned rules
  // after a restart).
  absl::StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> ProtectedInodes();

  ProbeReport Probe() const;
  absl::StatusOr<std::map<std::string, uint64_t>> Counters() const;

  // Waits up to timeout_ms for decision events and calls fn for each.
  // Returns the number handled, or an error.
  absl::StatusOr<int> PollEvents(int timeout_ms,
                                 const std::function<void(const DecisionEvent&)>& fn);

 private:
  Gate() = default;
  absl::Status Load(const GateOptions& options);
  absl::Status LoadOnce(const GateOptions& options, bool file_hooks);
  absl::Status FinishLoad(const GateOptions& options);
  absl::Status AttachAll();
  absl::Status AttachHookLocked(const internal::HookDef& h);
  absl::Status DetachHookLocked(const internal::HookDef& h);
  absl::Status SyncOnDemandHooks(const internal::DemandState& s, bool attach);
  bool Wanted(const internal::HookDef& h, const internal::DemandState& s) const;
  HookStatus* StatusLocked(const char* name);
  absl::Status WriteConfig(const std::function<void(void*)>& edit);
  absl::Status RecomputeFlags();
  absl::Status InstallConfig(const GateOptions& o);
  absl::Status CountPort(uint8_t proto, uint16_t port, int delta);

  struct Link;
  GateOptions options_;
  gate_bpf* skel_ = nullptr;
  mutable std::mutex links_mu_;  // guards links_ and hooks_
  std::vector<std::unique_ptr<Link>> links_;
  std::vector<HookStatus> hooks_;
  ring_buffer* ring_ = nullptr;
  const std::function<void(const DecisionEvent&)>* poll_fn_ = nullptr;
  bool adopted_ = false;
  std::string file_hooks_error_;  // why the file fallback did not load
  bool migrate_config_ = false;   // pinned tg_config is format 2 (gate_adopt.cc)
  uint64_t governed_root_id_ = 0;
  uint32_t governed_level_ = 0;
  std::mutex config_mu_;
  std::mutex targets_mu_;
  // Serializes changes of what the on-demand hooks are wanted for
  // (quarantine flags, protected-inode count) with their attach/detach.
  std::mutex demand_mu_;
};

}  // namespace taogate::bpf
