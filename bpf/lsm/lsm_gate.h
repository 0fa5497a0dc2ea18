/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * lsm_gate.h: the one header shared by the BPF LSM programs (lsm_gate.bpf.c)
 * and user space (the loader in bpf/lsm/src, the agent, the VM test). It is
 * the format of every map key, map value and ring-buffer event, byte by byte.
 *
 * Everything here is plain C with fixed-width types so that the same bytes
 * mean the same thing on both sides. Hash-map keys have explicit padding that
 * both sides must zero (the kernel compares keys as raw bytes).
 *
 * Scope: every program first asks "is the current task in a governed cgroup?"
 * (tg_governed, see tg_governed_value) and returns 0 at once if not, so
 * ungoverned processes are never affected. Each program also returns an
 * earlier denial (a previous BPF LSM program's non-zero return) unchanged.
 *
 * Map names are at most 15 characters (BPF_OBJ_NAME_LEN) and are the stable
 * names an integrator uses to share maps with the cgroup gate
 * (bpf_map__reuse_fd before load).
 */
#ifndef TAOGATE_BPF_LSM_GATE_H_
#define TAOGATE_BPF_LSM_GATE_H_

#ifdef __cplusplus
#include <linux/types.h>
#define TG_STATIC_ASSERT static_assert
namespace taogate::bpf {
#else
#define TG_STATIC_ASSERT _Static_assert
#endif

/* Capacities (max_entries). */
#define TG_LSM_MAX_GOVERNED 4096
#define TG_LSM_MAX_GRANTS 65536
#define TG_LSM_MAX_TARGETS 16384
#define TG_LSM_MAX_INODES 16384
#define TG_LSM_MAX_AGENT_PIDS 64
#define TG_LSM_EVENTS_BYTES (256 * 1024)

/* Ancestor cgroup levels inspected (bit i of tg_lsm_config.governed_levels
 * asks for bpf_get_current_ancestor_cgroup_id(i)); level 0 is the root. */
#define TG_LSM_MAX_CGROUP_LEVEL 16
/* Directory levels walked up from an opened file to find a protected
 * subtree (stops earlier at the root of the file's file system); a governed
 * access to a file deeper than this is denied (fail closed). */
#define TG_LSM_MAX_DIR_DEPTH 64

/* Address families and protocols as the kernel numbers them (vmlinux.h has
 * no macros). proto is the socket's sk_protocol: TCP 6, UDP 17; unix
 * sockets have protocol 0 (TG_PROTO_UNIX). */
#define TG_AF_UNIX 1
#define TG_AF_INET 2
#define TG_AF_INET6 10
#define TG_PROTO_UNIX 0
#define TG_PROTO_TCP 6
#define TG_PROTO_UDP 17

/*
 * tg_governed: HASH, key __u64 cgroup id (cgroup v2 inode number, as
 * bpf_get_current_cgroup_id returns) -> struct tg_governed_value.
 * A task is governed if its own cgroup is in the map, or an ancestor at a
 * level whose bit is set in tg_lsm_config.governed_levels is. The deepest
 * match is "the governed cgroup" that grants are keyed by. Every entry's
 * level bit must be set in governed_levels: an empty mask short-cuts to
 * "nothing governed".
 */
struct tg_governed_value {
	__u32 level; /* depth of the cgroup (root = 0), informational */
	__u32 flags; /* reserved, 0 */
};

/* tg_lsm_cfg: ARRAY of one struct tg_lsm_config. */
struct tg_lsm_config {
	__u32 governed_levels; /* bit i set: some governed cgroup is at level i */
	__u32 flags;           /* reserved, 0 */
};

/*
 * A protected network or unix target: the key of tg_lsm_targets (grants use
 * tg_lsm_grant_key, derived from it by tg_grant_key_of / MakeGrantKey).
 *   addr: IPv6 bytes in network order. IPv4 is stored v4-mapped
 *         (::ffff:a.b.c.d) so AF_INET and v4-mapped AF_INET6 connects to the
 *         same host hit the same key. For unix stream sockets (proto 0) addr
 *         is {__u64 dev, __u64 ino} (host byte order) of the socket file, see
 *         tg_inode_key for the dev encoding.
 *   port: host byte order; 0 in tg_lsm_targets means "every port of addr".
 */
struct tg_lsm_target_key {
	__u8 proto;
	__u8 pad0; /* zero */
	__u16 port;
	__u8 addr[16];
};
TG_STATIC_ASSERT(sizeof(struct tg_lsm_target_key) == 20, "tg_lsm_target_key layout");

/* tg_lsm_targets: HASH, struct tg_lsm_target_key -> struct tg_lsm_target_val. */
struct tg_lsm_target_val {
	__u32 flags; /* reserved, 0: presence means protected */
};

/*
 * tg_grants: HASH (BPF_F_NO_PREALLOC), struct tg_lsm_grant_key ->
 * struct tg_lsm_grant_val. Byte for byte the layout AND the protocol of the
 * cgroup gate's tg_grant_key / tg_grant_val (bpf/include/taogate/bpf/
 * gate_format.h), so one map can serve both (bpf_map__reuse_fd), provided
 * only one of lsm/socket_connect and cgroup/connect4|6 enforces a given
 * target (each would consume a grant for the same connect).
 *   cgroup_id: the governed cgroup the task matched (see tg_governed); with
 *              workload-level cgroups registered in tg_governed this is the
 *              gate's "workload-level ancestor cgroup id".
 *   family:    TG_AF_INET for IPv4 and v4-mapped IPv6 (addr[0..3], rest 0),
 *              TG_AF_INET6 (addr[0..15]), TG_AF_UNIX for unix stream
 *              targets (proto 0, addr = {__u64 dev, __u64 ino}).
 *   port:      host order, exact (never 0); 0 for unix.
 * Protocol: user space installs with BPF_NOEXIST and state 0. A hook claims
 * the grant with a cmpxchg of state 0 -> 1 (exactly one racer wins), copies
 * tao_id and expiry from the element it claimed, deletes the element, and
 * allows iff bpf_ktime_get_ns() < expiry_ns.
 */
struct tg_lsm_grant_key {
	__u64 cgroup_id;
	__u8 proto;
	__u8 family;
	__u16 port;
	__u32 pad; /* zero */
	__u8 addr[16];
};
TG_STATIC_ASSERT(sizeof(struct tg_lsm_grant_key) == 32, "tg_lsm_grant_key layout");

struct tg_lsm_grant_val {
	__u8 tao_id[16];
	__u64 expiry_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 state;     /* 0 unused, 1 claimed */
	__u32 pad;       /* zero */
};
TG_STATIC_ASSERT(sizeof(struct tg_lsm_grant_val) == 32, "tg_lsm_grant_val layout");

/*
 * tg_inodes: HASH, struct tg_inode_key -> struct tg_inode_value.
 * dev is the KERNEL encoding of the superblock's dev_t (s_dev):
 * (major << 20) | minor, which is NOT stat()'s st_dev; convert with
 * (major(st_dev) << 20) | minor(st_dev).
 */
struct tg_inode_key {
	__u64 dev;
	__u64 ino;
};

#define TG_DENY_READ 0x1    /* open with FMODE_READ */
#define TG_DENY_WRITE 0x2   /* open with FMODE_WRITE; truncate, unlink, rmdir,
			     * rename from/onto, chmod, chown */
#define TG_DENY_EXEC 0x4    /* execve of this binary */
#define TG_DENY_CONNECT 0x8 /* unix stream connect to this socket file */

#define TG_INODE_SUBTREE 0x1 /* deny bits also apply to everything below */

struct tg_inode_value {
	__u32 deny;  /* TG_DENY_* */
	__u32 flags; /* TG_INODE_* */
};

/* tg_agent_pids: HASH, __u32 tgid (init pid namespace) -> __u32 (0).
 * Governed tasks may not signal or ptrace these processes. */

/* Ring buffer tg_lsm_events carries struct tg_lsm_event. */
enum tg_lsm_hook {
	TG_HOOK_SOCKET_CONNECT = 1,
	TG_HOOK_FILE_OPEN = 2,
	TG_HOOK_BPRM_CHECK = 3,
	TG_HOOK_TASK_KILL = 4,
	TG_HOOK_PTRACE = 5,
	TG_HOOK_BPF = 6,
	TG_HOOK_UNIX_CONNECT = 7,
	TG_HOOK_SOCKET_SENDMSG = 8,
	TG_HOOK_PATH_WRITE = 9, /* truncate, unlink, rmdir, rename, chmod, chown */
	TG_HOOK_CGROUP_ESCAPE = 10, /* cgroupfs write, clone3(CLONE_INTO_CGROUP) */
	TG_HOOK_SELF_STATE = 11,    /* bpffs/cgroupfs change or umount */
};

enum tg_lsm_verdict {
	TG_VERDICT_DENY = 1,
	TG_VERDICT_GRANT_USED = 2, /* a grant was consumed: EXERCISED */
};

struct tg_lsm_event {
	__u64 time_ns;     /* bpf_ktime_get_ns */
	__u64 cgroup_id;   /* governed cgroup */
	__u8 tao_id[16];   /* zero unless verdict == TG_VERDICT_GRANT_USED */
	__u32 pid;         /* tgid of the acting task */
	__u32 target_pid;  /* task_kill / ptrace target, else 0 */
	__u64 ino;         /* file_open / bprm / unix: inode, else 0 */
	__u16 port;        /* host order */
	__u8 hook;         /* enum tg_lsm_hook */
	__u8 verdict;      /* enum tg_lsm_verdict */
	__u8 proto;
	__u8 family;
	__u8 pad[2];
	__u8 addr[16];
};
TG_STATIC_ASSERT(sizeof(struct tg_lsm_event) == 72, "tg_lsm_event layout");

/* tg_lsm_stats: PERCPU_ARRAY of __u64, indexed by enum tg_lsm_stat. */
enum tg_lsm_stat {
	TG_STAT_DENY = 0,
	TG_STAT_GRANT_USED = 1,
	TG_STAT_GRANT_RACE_LOST = 2, /* found a grant another hook had claimed */
	TG_STAT_GRANT_EXPIRED = 3,
	TG_STAT_EVENT_DROPPED = 4,
	TG_STAT_MAX = 5,
};

#ifdef __cplusplus
}  // namespace taogate::bpf
#endif

#endif /* TAOGATE_BPF_LSM_GATE_H_ */
