// The gate's hook table (internal to taogate::bpfgate): which program in
// gate.bpf.c attaches where, whether the gate can run without it, and what
// the probe says about its coverage.
#pragma once

#include <cstdint>
#include <string>

namespace taogate::bpf::internal {

enum class AttachKind { kCgroup, kTracing };

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
};

inline constexpr HookDef kHooks[] = {
    {"connect4", "tg_connect4", AttachKind::kCgroup, true, 0, nullptr},
    {"connect6", "tg_connect6", AttachKind::kCgroup, true, 0, nullptr},
    {"sendmsg4", "tg_sendmsg4", AttachKind::kCgroup, true, 0, nullptr},
    {"sendmsg6", "tg_sendmsg6", AttachKind::kCgroup, true, 0, nullptr},
    {"connect_unix", "tg_connect_unix", AttachKind::kCgroup, false, kAttachCgroupUnixConnect,
     "matches the literal sun_path: aliases via symlinks, hard links or bind mounts are not "
     "covered; relative paths are denied while unix targets are protected"},
    {"sendmsg_unix", "tg_sendmsg_unix", AttachKind::kCgroup, false, kAttachCgroupUnixSendmsg,
     "matches the literal sun_path: aliases via symlinks, hard links or bind mounts are not "
     "covered; relative paths are denied while unix targets are protected"},
    {"sock_create", "tg_sock_create", AttachKind::kCgroup, true, 0,
     "denies raw IP sockets; AF_PACKET never reaches this hook and is handled by sys_enter "
     "(process killed on socket(AF_PACKET))"},
    {"skb_egress", "tg_skb_egress", AttachKind::kCgroup, true, 0, nullptr},
    {"skb_ingress", "tg_skb_ingress", AttachKind::kCgroup, true, 0, nullptr},
    {"sys_enter", "tg_sys_enter", AttachKind::kTracing, false, 0,
     "kill on syscall: SIGKILL is delivered on return to user space, so the triggering "
     "syscall itself completes"},
};

// Hooks of the design that this gate does not load on this kind of kernel.
struct AbsentHook {
  const char* name;
  const char* reason;
};
inline constexpr AbsentHook kNotLoaded[] = {
    {"lsm/socket_connect", "BPF LSM programs are not loaded by this gate (trampolines refused "
                           "on this kernel); cgroup hooks enforce connects instead"},
    {"lsm/file_open", "BPF LSM programs are not loaded by this gate; protected files unenforced"},
    {"lsm/bprm_check_security",
     "BPF LSM programs are not loaded by this gate; exec of listed binaries unenforced"},
};

}  // namespace taogate::bpf::internal
