/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The one format header of every taogate BPF program and its user space:
 * the cgroup gate (bpf/progs/gate.bpf.c, loader taogate::bpf) and the BPF LSM
 * programs (bpf/lsm/lsm_gate.bpf.c, loader taogate::bpflsm). Structs, bit
 * values, capacities and map names are defined here and nowhere else.
 *
 * Cgroup gate maps are pinned under <pin_root>/maps/<name>, so their layout
 * is also an on-disk (bpffs) format that a newer agent adopts: change a
 * struct only together with TG_FORMAT_VERSION (tg_config.format). The LSM
 * maps are never adopted (each agent loads a fresh LSM set, see
 * enforce::Enforcer), so they carry no version.
 *
 * All integers are host byte order unless marked "be" (network order).
 *
 * tg_targets4 / tg_targets6 (BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC)
 *   key   struct tg_lpm4_key / tg_lpm6_key:
 *           prefixlen  u32   = 24 + address prefix length (proto and port
 *                             are always fully specified)
 *           proto      u8    IPPROTO_TCP (6) or IPPROTO_UDP (17)
 *           port_be    u16   destination port, network order; 0 = any port
 *           addr       4|16  address, network order
 *   value struct tg_target_val: kind (TG_TARGET_PROTECT | TG_TARGET_ALLOW |
 *         TG_TARGET_AUDIT), rule id (opaque, reported in events). AUDIT
 *         needs a grant like PROTECT, in either mode, but audits.
 *   The hook looks up (proto, port, addr) and then (proto, 0, addr); the
 *   exact-port match wins over the any-port match. Port ranges are expanded
 *   into one entry per port by the loader. IPv4-mapped IPv6 destinations are
 *   looked up in tg_targets4.
 *
 * tg_target_ports (HASH): key struct tg_port_key {proto, port (host order)},
 *   value u32 = number of exact-port LPM entries (either family, any kind)
 *   with that proto and port. Together with tg_config.anyport_targets it
 *   lets the hook skip both LPM lookups in protect mode when no entry can
 *   match. The loader keeps it a superset of the tries: it counts up before
 *   inserting into a trie and down only after deleting from it.
 *
 * tg_unix_targets (HASH): key struct tg_unix_key (sun_path bytes, truncated
 *   at the first NUL for pathname sockets, zero padded; abstract sockets keep
 *   their leading NUL and their exact length), value struct tg_target_val.
 *
 * tg_grants (HASH, BPF_F_NO_PREALLOC): key struct tg_grant_key, value
 *   struct tg_grant_val. tg_unix_grants: key struct tg_unix_grant_key.
 *   cgroup_id is the caller's workload id (see "Workload" below); state
 *   0 = unused, 1 = consumed (cmpxchg'd by exactly one hook invocation; see
 *   gate.bpf.c consume_grant()). A grant set (TG_GRANT_SHARED) also holds a
 *   token entry, family 0, see struct tg_grant_val.
 *
 * tg_quarantine (HASH): key u64 workload id, value u32 mode
 *   (TG_QUARANTINE_NET | TG_QUARANTINE_KILL).
 *
 * tg_audit (HASH, 4096): key u64 workload id, value u32 1: the workload runs
 *   in audit mode for every target (docs/audit-mode.md); tg_config.audit_armed
 *   is non-zero while the map is non-empty. Audit mode (a TG_TARGET_AUDIT
 *   entry, or an audited workload): a connect/sendmsg that enforce mode would
 *   deny for want of a grant (TG_DENY, TG_DENY_EXPIRED) is allowed and its
 *   event carries that verdict with audit = 1 ("WOULD_DENY"); a valid grant is
 *   only looked at (never consumed, no event); quarantine is checked first and
 *   always denies (the kill switch is never audited). A map the older format 3
 *   gate did not have: pinned on first load, reserved config word reused.
 *
 * Workload. Every hook first resolves the caller (for cgroup_skb: the
 * socket's cgroup) to a workload id; grants, quarantine and events are keyed
 * by it (gate.bpf.c resolve_current / resolve_skb). L = governed_level.
 *   tg_config.pods == 0 (governed-root mode): the ancestor at level L+1, the
 *     direct child of the governed root; 0 if the caller is in the root
 *     itself. Every caller is governed.
 *   tg_config.pods != 0 (pods mode; the root is kubelet's kubepods cgroup):
 *     id1 = the ancestor at L+1, looked up in tg_workloads. If its kind is
 *     TG_WORKLOAD_NESTED (a QoS cgroup), the workload is the ancestor at L+2
 *     instead, looked up in turn (a NESTED entry there is not followed: it
 *     counts as governed). Then, by the entry found:
 *       TG_WORKLOAD_UNGOVERNED  the hook does nothing at all: allow, no
 *                               quarantine (not even quarantine_all), no
 *                               kill, no event, no counter;
 *       TG_WORKLOAD_GOVERNED,   governed, workload id = that cgroup's id.
 *       no entry (unclassified) Fail closed: a pod cgroup not classified
 *                               yet, or a caller directly in the root or
 *                               directly in a QoS cgroup (id 0), is
 *                               governed and holds no grant.
 *     Resolution is by level, never by name, so a nested cgroup a container
 *     creates below its pod stays in that pod's workload.
 *
 * tg_workloads (HASH, TG_MAX_WORKLOADS): key u64 cgroup id (pod or QoS
 *   cgroup), value struct tg_workload_val, 8 bytes:
 *           0..3   kind       u32 enum tg_workload_kind; any other value
 *                                 counts as governed
 *           4..7   pod_index  u32 opaque to the kernel (the agent's pod slot)
 *   Read only in pods mode; written only by user space (Gate::SetWorkload).
 *
 * tg_inodes (HASH, TG_MAX_INODES): protected files and directories. The
 *   same key, value, bits and map name in both programs: the gate's
 *   kill-on-open / kill-on-exec fallback (gate_file.bpf.h) and the LSM's
 *   file_open / path_* / bprm_check_security (lsm_gate.bpf.c), so one key
 *   builder (bpflsm::MakeInodeKey) and one rule compiler serve both.
 *   key   struct tg_inode_key, 16 bytes:
 *           0..7   dev  u64  the KERNEL encoding of the superblock dev_t
 *                            (s_dev): (major << 20) | minor -- NOT stat()'s
 *                            st_dev; convert with bpflsm::KernelDev
 *           8..15  ino  u64  inode number
 *   value struct tg_inode_val, 8 bytes:
 *           0..3   deny  u32 TG_DENY_READ 0x1 (open with FMODE_READ),
 *                            TG_DENY_WRITE 0x2 (open with FMODE_WRITE; for
 *                            the LSM also truncate, unlink, rmdir, rename
 *                            from/onto, chmod, chown),
 *                            TG_DENY_EXEC 0x4 (execve of this binary);
 *                            other bits are stored but ignored
 *           4..7   flags u32 TG_INODE_SUBTREE 0x1: the deny bits also
 *                            apply to everything below this directory (up to
 *                            TG_MAX_DIR_DEPTH levels, same file system;
 *                            while subtree rules exist, a file deeper than
 *                            that below the file system root counts as
 *                            matching: fail closed)
 *   tg_config.inodes_protected mirrors the entry count (raised BEFORE an
 *   entry goes in): the three tracing programs (open, exec, fork) are
 *   attached only while it is non-zero. tg_config.inodes_subtree
 *   counts the subtree entries: while it is 0 the programs look up only the
 *   file's own inode and skip the parent walk. (The LSM has no such counts:
 *   its programs are attached for as long as it is loaded.)
 *
 * tg_fork_doomed (TASK_STORAGE, BPF_F_NO_PREALLOC, key int (task fd, user
 *   space never uses it), value u32 0): set by tg_sched_fork on the child of
 *   a governed clone that shares its parent's fd table; tg_sys_exit kills a
 *   task that has it at its first return from clone. Kernel-internal only.
 * tg_governed_tasks (TASK_STORAGE, BPF_F_NO_PREALLOC, key int (a pidfd from
 *   user space), value u64 workload id): set on a thread group leader while
 *   its process is inside the governed subtree (gate_escape.bpf.h; the
 *   loader marks the processes already inside); a marked process that a
 *   governed task moves out of the subtree is killed.
 *
 * tg_config (ARRAY, 1 entry): struct tg_config. Adoption (bpf/src/
 *   gate_adopt.cc): a pinned config of this format is reused; a format 2
 *   config (48 bytes: the first 48 bytes of format 3, pods = 0; also one
 *   left unwritten, format 0) is copied into a new map that replaces its
 *   pin by rename(2); any other pinned size or format is refused
 *   (FailedPrecondition: detach first).
 * tg_counters (PERCPU_ARRAY, TG_CNT_MAX entries of u64).
 * tg_events (RINGBUF): records of struct tg_decision_event. For the file
 *   hooks (TG_HOOK_OPEN_KILL, TG_HOOK_EXEC_KILL) family is 0, proto holds
 *   the deny bits that matched and addr holds {u64 dev, u64 ino} (host
 *   order) of the matching rule's inode (the file itself, or the protected
 *   directory above it for a subtree rule; the opened file itself when
 *   the parent walk ran out of TG_MAX_DIR_DEPTH levels). An io_uring_setup/enter
 *   kill (TG_HOOK_OPEN_KILL) has proto 0 and addr all zero. A fork kill
 *   (TG_HOOK_FORK_KILL: a governed process created a process sharing its
 *   fd table) has proto 0 and addr {u64 child pid, 0}. A CAP_NET_RAW kill
 *   (TG_HOOK_NET_RAW_KILL) has family AF_PACKET for a packet socket seen in
 *   a native socket() call, else the family read (0 if not a socket call).
 *   An escape kill (TG_HOOK_ESCAPE_KILL: a governed process left the
 *   governed subtree) has cgroup_id = the workload it left and addr =
 *   {u64 moved tgid, u64 destination cgroup id}.
 *
 * BPF LSM maps (lsm_gate.bpf.c; names at most 15 characters, the names the
 * loader pins as map_<name>):
 * tg_governed (HASH, TG_LSM_MAX_GOVERNED): key u64 cgroup id (cgroup v2
 *   inode number) -> struct tg_governed_value. A task is governed if its own
 *   cgroup is in the map, or an ancestor at a level whose bit is set in
 *   tg_lsm_config.governed_levels is. Every entry's level bit must be set:
 *   an empty mask short-cuts to "nothing governed".
 * tg_lsm_cfg (ARRAY, 1 entry): struct tg_lsm_config.
 * tg_inodes: as above.
 * tg_agent_pids (HASH, TG_LSM_MAX_AGENT_PIDS): u32 tgid (init pid namespace)
 *   -> u32 0. Governed tasks may not signal or ptrace these processes.
 * tg_lsm_events (RINGBUF, TG_LSM_EVENTS_BYTES): records of struct
 *   tg_lsm_event, one per denial.
 * tg_lsm_stats (PERCPU_ARRAY, TG_LSM_STAT_MAX entries of u64).
 * Every LSM program first asks "is the current task governed?" and returns
 * 0 at once if not, and returns an earlier LSM's denial unchanged. Network
 * targets have no LSM map: the cgroup gate enforces them on every kernel
 * (docs/decisions.md, "One network enforcement path").
 */
#ifndef TAOGATE_BPF_GATE_FORMAT_H_
#define TAOGATE_BPF_GATE_FORMAT_H_

#ifndef __bpf__
#include <linux/types.h>
#endif
#ifdef __cplusplus
#include <cstddef>  /* offsetof */
#endif

#ifdef __cplusplus
namespace taogate::bpf {
#endif

/* 2: tg_inodes, tg_config.inodes_protected; 3: tg_workloads, tg_config.pods
 * (config 48 -> 56 bytes) */
#define TG_FORMAT_VERSION 3
#define TG_FORMAT2_CONFIG_SIZE 48

enum tg_mode {
	TG_MODE_PROTECT_LISTED = 0,   /* deny listed targets unless granted */
	TG_MODE_DENY_ALL = 1,         /* deny all egress except allowlisted or granted */
};

enum tg_target_kind {
	TG_TARGET_PROTECT = 1,
	TG_TARGET_ALLOW = 2,
	/* Protected in audit mode (docs/audit-mode.md): what PROTECT would deny
	 * is allowed and reported (event audit = 1); grants are looked at, never
	 * consumed; quarantine still denies. */
	TG_TARGET_AUDIT = 3,
};

enum tg_quarantine_mode {
	TG_QUARANTINE_NET = 1,   /* deny connect/sendmsg, drop all skbs */
	TG_QUARANTINE_KILL = 2,  /* also SIGKILL on the next syscall */
};

enum tg_verdict {
	TG_ALLOW_GRANT = 1,
	TG_DENY = 2,             /* protected target, no (valid) grant */
	TG_DENY_QUARANTINE = 3,
	TG_DENY_RAW = 4,          /* raw or packet socket */
	TG_KILL = 5,
	TG_DENY_EXPIRED = 6,     /* a grant existed but had expired */
};

enum tg_hook {
	TG_HOOK_CONNECT4 = 1,
	TG_HOOK_CONNECT6 = 2,
	TG_HOOK_SENDMSG4 = 3,
	TG_HOOK_SENDMSG6 = 4,
	TG_HOOK_CONNECT_UNIX = 5,
	TG_HOOK_SENDMSG_UNIX = 6,
	TG_HOOK_SOCK_CREATE = 7,
	TG_HOOK_SYS_ENTER = 8,
	TG_HOOK_OPEN_KILL = 9,   /* tp_btf/sys_exit of open*: probe name "file_open" */
	TG_HOOK_EXEC_KILL = 10,  /* tp_btf/sched_process_exec: probe name "exec" */
	TG_HOOK_FORK_KILL = 11,  /* tp_btf/sched_process_fork (CLONE_FILES): probe name "fork" */
	TG_HOOK_NET_RAW_KILL = 12, /* tp_btf/cap_capable (CAP_NET_RAW): probe name "net_raw" */
	TG_HOOK_ESCAPE_KILL = 13,  /* cgroup_attach_task / sched_process_fork: "cgroup_escape" */
};

/* tg_inodes deny bits (struct tg_inode_val.deny), both programs; also the
 * deny bits of Gate::ProtectInode and enforce::PathRule. */
enum tg_deny_bits {
	TG_DENY_READ = 0x1,
	TG_DENY_WRITE = 0x2,
	TG_DENY_EXEC = 0x4,
};
/* struct tg_inode_val.flags */
enum tg_inode_flags {
	TG_INODE_SUBTREE = 0x1,  /* deny bits also apply to everything below */
};
#define TG_MAX_INODES 16384
/* Directory levels walked up from a file to find a protected subtree rule
 * (stops earlier at the root of the file's file system); a governed access
 * to a file deeper than this counts as matching (fail closed). */
#define TG_MAX_DIR_DEPTH 64

enum tg_counter {
	TG_CNT_CHECKED = 0,        /* governed connect/sendmsg that needed a grant */
	TG_CNT_ALLOW_GRANT,
	TG_CNT_DENY,
	TG_CNT_DENY_EXPIRED,
	TG_CNT_DENY_QUARANTINE,
	TG_CNT_DENY_RAW,
	TG_CNT_SKB_DROPPED,
	TG_CNT_KILL,
	TG_CNT_EVENTS_LOST,        /* ring buffer full */
	TG_CNT_KILL_OPEN,          /* killed after opening a protected inode */
	TG_CNT_KILL_EXEC,          /* killed after exec of a protected binary */
	TG_CNT_MAX,
};

#define TG_UNIX_PATH_MAX 108

/* struct tg_workload_val.kind (pods mode, tg_workloads) */
enum tg_workload_kind {
	TG_WORKLOAD_GOVERNED = 1,
	TG_WORKLOAD_UNGOVERNED = 2,
	TG_WORKLOAD_NESTED = 3,  /* a QoS cgroup: the workload is its child */
};
#define TG_MAX_WORKLOADS 8192

struct tg_workload_val {
	__u32 kind;       /* enum tg_workload_kind */
	__u32 pod_index;  /* opaque to the kernel */
};

struct tg_lpm4_key {
	__u32 prefixlen;
	__u8 proto;
	__u8 port_be[2];
	__u8 addr[4];
} __attribute__((packed));

struct tg_lpm6_key {
	__u32 prefixlen;
	__u8 proto;
	__u8 port_be[2];
	__u8 addr[16];
} __attribute__((packed));

struct tg_target_val {
	__u32 kind;      /* enum tg_target_kind */
	__u32 rule_id;
};

struct tg_port_key {
	__u16 port;
	__u8 proto;
	__u8 pad;          /* must be 0 */
};

struct tg_unix_key {
	__u8 path[TG_UNIX_PATH_MAX];
};

struct tg_grant_key {
	__u64 cgroup_id;   /* workload-level ancestor cgroup id */
	__u8 proto;        /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;       /* AF_INET (v4 and v4-mapped) or AF_INET6 */
	__u16 port;        /* host order */
	__u32 pad;         /* must be 0 */
	__u8 addr[16];     /* network order; AF_INET uses addr[0..3], rest 0 */
};

struct tg_unix_grant_key {
	__u64 cgroup_id;
	struct tg_unix_key path;
	__u8 pad[4];       /* must be 0 */
};

struct tg_grant_val {
	__u8 tao_id[16];
	__u64 expiry_ns;   /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 state;       /* 0 unused, 1 consumed */
	__u32 flags;       /* TG_GRANT_SHARED, or 0 (older agents wrote 0 here) */
};

/* A grant that is one of a set (a named TAO: one entry per current address
 * of the name, all with the same tao_id). The set is single-use as a whole:
 * consuming an entry also needs the set's token, an entry of tg_grants with
 * the key { cgroup_id, proto 0, family 0 (never a destination's), port 0,
 * addr = tao_id }, whose state is cmpxchg'd from 0 to 1 exactly once. */
#define TG_GRANT_SHARED 1u

struct tg_config {
	__u32 format;            /* TG_FORMAT_VERSION */
	__u32 mode;              /* enum tg_mode */
	__u64 governed_root_id;  /* cgroup id of the governed subtree root */
	__u32 governed_level;    /* its level (cgroup2 root = 0) */
	__u32 quarantine_all;    /* 0 or enum tg_quarantine_mode for everyone */
	__u32 kill_armed;        /* non-zero while any KILL quarantine exists */
	__u32 unix_protected;    /* non-zero while tg_unix_targets has a PROTECT */
	__u32 quarantine_armed;  /* non-zero while tg_quarantine is non-empty */
	__u32 anyport_targets;   /* any-port (port 0) entries in the IP tries */
	__u32 inodes_protected;  /* entries in tg_inodes (0: file hooks detached) */
	__u32 inodes_subtree;    /* of which TG_INODE_SUBTREE (0: no dir walk) */
	/* format 3 */
	__u32 pods;              /* non-zero: pods mode (tg_workloads decides) */
	__u32 audit_armed;       /* non-zero while tg_audit is non-empty (was
				  * "reserved", always 0 before) */
};

struct tg_inode_key {
	__u64 dev;   /* kernel s_dev encoding: (major << 20) | minor */
	__u64 ino;
};

struct tg_inode_val {
	__u32 deny;  /* enum tg_deny_bits */
	__u32 flags; /* enum tg_inode_flags */
};

struct tg_decision_event {
	__u64 time_ns;       /* bpf_ktime_get_ns */
	__u64 cgroup_id;     /* workload id (0: no workload-level cgroup) */
	__u8 tao_id[16];     /* TG_ALLOW_GRANT only, else zero */
	__u32 verdict;       /* enum tg_verdict */
	__u32 pid;           /* tgid */
	__u16 port;          /* host order */
	__u8 proto;
	__u8 family;         /* AF_INET, AF_INET6, AF_UNIX */
	__u8 hook;           /* enum tg_hook */
	__u8 audit;          /* 1: audit mode allowed what verdict would deny */
	__u8 pad[2];
	__u8 addr[16];       /* IP (network order), first 16 path bytes, or
			      * {u64 dev, u64 ino} for the file hooks */
};

/* ---- BPF LSM (bpf/lsm/lsm_gate.bpf.c) ---- */

#define TG_LSM_MAX_GOVERNED 4096
#define TG_LSM_MAX_AGENT_PIDS 64
#define TG_LSM_EVENTS_BYTES (256 * 1024)
/* Ancestor cgroup levels inspected (bit i of tg_lsm_config.governed_levels
 * asks for bpf_get_current_ancestor_cgroup_id(i)); level 0 is the root. */
#define TG_LSM_MAX_CGROUP_LEVEL 16

struct tg_governed_value {
	__u32 level; /* depth of the cgroup (root = 0), informational */
	__u32 flags; /* reserved, 0 */
};

struct tg_lsm_config {
	__u32 governed_levels; /* bit i set: some governed cgroup is at level i */
	__u32 flags;           /* reserved, 0 */
};

/* Numbers 1, 7 and 8 were the deleted network hooks; they are not reused. */
enum tg_lsm_hook {
	TG_LSM_HOOK_FILE_OPEN = 2,
	TG_LSM_HOOK_BPRM_CHECK = 3,
	TG_LSM_HOOK_TASK_KILL = 4,
	TG_LSM_HOOK_PTRACE = 5,
	TG_LSM_HOOK_BPF = 6,
	TG_LSM_HOOK_PATH_WRITE = 9,     /* truncate, unlink, rmdir, rename, chmod, chown */
	TG_LSM_HOOK_CGROUP_ESCAPE = 10, /* cgroupfs write, clone3(CLONE_INTO_CGROUP) */
	TG_LSM_HOOK_SELF_STATE = 11,    /* bpffs/cgroupfs change or umount */
};

/* One denial. */
struct tg_lsm_event {
	__u64 time_ns;     /* bpf_ktime_get_ns */
	__u64 cgroup_id;   /* governed cgroup */
	__u64 ino;         /* file_open / bprm / path_write: denying inode, else 0 */
	__u32 pid;         /* tgid of the acting task */
	__u32 target_pid;  /* task_kill / ptrace target, else 0 */
	__u8 hook;         /* enum tg_lsm_hook */
	__u8 pad[7];
};

enum tg_lsm_stat {
	TG_LSM_STAT_DENY = 0,
	TG_LSM_STAT_EVENT_DROPPED = 1, /* ring buffer full */
	TG_LSM_STAT_MAX = 2,
};

#ifdef __cplusplus
static_assert(sizeof(struct tg_lsm_event) == 40, "LSM event layout");
static_assert(sizeof(struct tg_governed_value) == 8, "governed value layout");
static_assert(sizeof(struct tg_lsm_config) == 8, "LSM config layout");
static_assert(sizeof(struct tg_decision_event) == 64, "event layout");
static_assert(sizeof(struct tg_grant_key) == 32, "grant key layout");
static_assert(sizeof(struct tg_unix_grant_key) == 120, "unix grant key layout");
static_assert(sizeof(struct tg_grant_val) == 32, "grant value layout");
static_assert(sizeof(struct tg_config) == 56, "config layout");
static_assert(offsetof(struct tg_config, pods) == TG_FORMAT2_CONFIG_SIZE,
	      "format 3 config = format 2 config + pods");
static_assert(sizeof(struct tg_workload_val) == 8, "workload value layout");
static_assert(sizeof(struct tg_inode_key) == 16, "inode key layout");
static_assert(sizeof(struct tg_inode_val) == 8, "inode value layout");
}  // namespace taogate::bpf
#endif

#endif  /* TAOGATE_BPF_GATE_FORMAT_H_ */
