// The gate's hook table (internal to taogate::bpfgate): which program in
// gate.bpf.c attaches where, whether the gate can run without it, and what
// the probe says about its coverage.
#pragma once

#include <cstdint>
#include <string>

namespace taogate::bpf::internal {

// kCgroup: at the governed root. kCgroupRoot: at the cgroup2 mount's root,
// i.e. for every socket on the host; only for programs that leave at once
// unless the calling task is governed (gate_foreign.bpf.h).
enum class AttachKind { kCgroup, kCgroupRoot, kTracing };

// When a hook is attached. On-demand hooks cost nothing while idle: the skb
// programs would otherwise run for every packet of every governed socket,
// and the syscall hook for every syscall on the host.
enum class Demand {
  kAlways,
  kWhileQuarantined,  // attached before a quarantine is armed, dropped after release
  kWhileKillArmed,    // same for kill quarantines (unless syscall_hook_always)
  kWhileInodesProtected,  // attached before the first tg_inodes entry, dropped after the last
};

// What the on-demand hooks are wanted for right now.
struct DemandState {
  bool quarantined = false;
  bool kill_armed = false;
  bool inodes = false;
};

// Not in Debian's libbpf 1.1 / linux-libc-dev 6.1 headers; values from the
// kernel's enum bpf_attach_type (verified against this kernel's BTF).
inline constexpr uint32_t kAttachCgroupUnixConnect = 49;
inline constexpr uint32_t kAttachCgroupUnixSendmsg = 50;

struct HookDef {
  const char* name;       // link pin name and probe name
  const char* prog;       // program name in gate.bpf.c
  AttachKind kind;
  bool required;          // OpenOrAdopt fails if it cannot attach
  uint32_t attach_type;   // non-zero: set before load (unknown to libbpf 1.1)
  const char* degraded;   // non-null: reported as degraded with this reason
  Demand demand;
};

inline constexpr const char* kSkbOnDemand =
    "on demand: attached while a quarantine is engaged (it then drops established flows too)";

inline constexpr const char* kUnixLiteral =
    "matches the literal sun_path: aliases via symlinks, hard links or bind mounts are not "
    "covered; relative paths are denied while unix targets are protected";

inline constexpr const char* kNetRawKill =
    "DEGRADED kill on CAP_NET_RAW (tp_btf/cap_capable; no BPF LSM): a governed process that "
    "creates an AF_PACKET, SOCK_PACKET or AF_XDP socket by any path (native or int $0x80 "
    "socket, socketcall, io_uring) is SIGKILLed before it returns to user space, but the "
    "socket is created and a sibling thread can race the kill; any other governed use of "
    "CAP_NET_RAW except setsockopt and raw IP socket() (refused by sock_create) is killed "
    "too; packet or raw sockets handed in by an ungoverned process are not seen";

inline constexpr const char* kEscapeKill =
    "DEGRADED self-protection (tp_btf/cgroup_attach_task, sched_process_fork; no BPF LSM): a "
    "governed process that moves itself or another governed process out of the governed tree "
    "(cgroup.procs, cgroup.threads) or forks a child outside it (clone3 CLONE_INTO_CGROUP) is "
    "SIGKILLed with the moved process before either returns to user space, but the move "
    "completes and a sibling thread in another syscall can race the kill; a move by an "
    "ungoverned process (agent, kubelet, operator) is a release";

inline constexpr HookDef kHooks[] = {
    {"connect4", "tg_connect4", AttachKind::kCgroup, true, 0, nullptr, Demand::kAlways},
    {"connect6", "tg_connect6", AttachKind::kCgroup, true, 0, nullptr, Demand::kAlways},
    {"sendmsg4", "tg_sendmsg4", AttachKind::kCgroup, true, 0, nullptr, Demand::kAlways},
    {"sendmsg6", "tg_sendmsg6", AttachKind::kCgroup, true, 0, nullptr, Demand::kAlways},
    {"connect_unix", "tg_connect_unix", AttachKind::kCgroup, false, kAttachCgroupUnixConnect,
     kUnixLiteral, Demand::kAlways},
    {"sendmsg_unix", "tg_sendmsg_unix", AttachKind::kCgroup, false, kAttachCgroupUnixSendmsg,
     kUnixLiteral, Demand::kAlways},
    {"sock_create", "tg_sock_create", AttachKind::kCgroup, true, 0,
     "denies raw IP sockets; AF_PACKET never reaches this hook: governed workloads must lack "
     "CAP_NET_RAW, or run with syscall_hook_always (killed on socket(AF_PACKET))",
     Demand::kAlways},
    // Sockets created outside the governed tree (SCM_RIGHTS, inherited)
    // used by a governed task: judged by the task (gate_foreign.bpf.h).
    {"foreign_connect4", "tg_foreign_connect4", AttachKind::kCgroupRoot, false, 0, nullptr,
     Demand::kAlways},
    {"foreign_connect6", "tg_foreign_connect6", AttachKind::kCgroupRoot, false, 0, nullptr,
     Demand::kAlways},
    {"foreign_sendmsg4", "tg_foreign_sendmsg4", AttachKind::kCgroupRoot, false, 0, nullptr,
     Demand::kAlways},
    {"foreign_sendmsg6", "tg_foreign_sendmsg6", AttachKind::kCgroupRoot, false, 0, nullptr,
     Demand::kAlways},
    {"foreign_connect_unix", "tg_foreign_connect_unix", AttachKind::kCgroupRoot, false,
     kAttachCgroupUnixConnect, kUnixLiteral, Demand::kAlways},
    {"foreign_sendmsg_unix", "tg_foreign_sendmsg_unix", AttachKind::kCgroupRoot, false,
     kAttachCgroupUnixSendmsg, kUnixLiteral, Demand::kAlways},
    {"skb_egress", "tg_skb_egress", AttachKind::kCgroup, true, 0, nullptr, Demand::kWhileQuarantined},
    {"skb_ingress", "tg_skb_ingress", AttachKind::kCgroup, true, 0, nullptr, Demand::kWhileQuarantined},
    {"sys_enter", "tg_sys_enter", AttachKind::kTracing, false, 0,
     "kill on syscall: SIGKILL is delivered on return to user space, so the triggering "
     "syscall itself completes",
     Demand::kWhileKillArmed},
    {"net_raw", "tg_cap_capable", AttachKind::kTracing, false, 0, kNetRawKill, Demand::kAlways},
    {"cgroup_escape", "tg_escape_attach", AttachKind::kTracing, false, 0, kEscapeKill,
     Demand::kAlways},
    {"escape_fork", "tg_escape_fork", AttachKind::kTracing, false, 0, kEscapeKill,
     Demand::kAlways},
    {"file_open", "tg_sys_exit", AttachKind::kTracing, false, 0,
     "DEGRADED kill on open (tp_btf/sys_exit; no BPF LSM): a governed process that opens a "
     "protected inode (open*, pidfd_getfd) is SIGKILLed before it returns to user space, but "
     "the open itself completes, so O_CREAT/O_TRUNC side effects happen before the kill; "
     "governed io_uring_setup/io_uring_enter are killed while files are protected; truncate(2), unlink, "
     "rename, chmod without open and fds received via SCM_RIGHTS or inherited are not "
     "covered",
     Demand::kWhileInodesProtected},
    {"exec", "tg_sched_exec", AttachKind::kTracing, false, 0,
     "DEGRADED kill on exec (tp_btf/sched_process_exec; no BPF LSM): the listed binary is "
     "loaded and the exec completes, but the process is SIGKILLed before it runs any user "
     "code; #! scripts are matched by their interpreter, and loading the binary via ld.so "
     "or mmap is an open (also set TG_DENY_READ)",
     Demand::kWhileInodesProtected},
    {"fork", "tg_sched_fork", AttachKind::kTracing, false, 0,
     "DEGRADED fd-table sharing (tp_btf/sched_process_fork; no BPF LSM): while files are "
     "protected, a governed process that creates another process sharing its fd table "
     "(clone(CLONE_FILES) without CLONE_THREAD) is SIGKILLed, and so is the child",
     Demand::kWhileInodesProtected},
};

inline constexpr const char* kSysEnterOnDemand =
    "on demand: attached while a kill quarantine is engaged (GateOptions.syscall_hook_always "
    "keeps it attached, which also kills governed processes on socket(AF_PACKET))";

inline constexpr const char* kInodesOnDemand =
    "no protected files: attached while Gate::ProtectInode entries exist";

inline const char* OnDemandNote(Demand d) {
  if (d == Demand::kWhileInodesProtected) return kInodesOnDemand;
  return d == Demand::kWhileKillArmed ? kSysEnterOnDemand : kSkbOnDemand;
}

}  // namespace taogate::bpf::internal
