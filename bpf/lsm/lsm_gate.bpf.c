// SPDX-License-Identifier: GPL-2.0
// taogate BPF LSM programs. Each one:
//   1. returns an earlier denial unchanged (a previous BPF LSM program's
//      non-zero return is the `ret` argument);
//   2. returns 0 at once unless the current task is in a governed cgroup;
//   3. decides from the maps described byte by byte in lsm_gate.h.
// Denials are -EPERM, counted in tg_lsm_stats and reported on tg_lsm_events.
// Nothing is logged on these paths.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "lsm_gate.h"

#define EPERM 1
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_LSM_MAX_GOVERNED);
	__type(key, __u64);
	__type(value, struct tg_governed_value);
} tg_governed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_lsm_config);
} tg_lsm_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_LSM_MAX_TARGETS);
	__type(key, struct tg_target_key);
	__type(value, struct tg_target_value);
} tg_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_LSM_MAX_GRANTS);
	__type(key, struct tg_grant_key);
	__type(value, struct tg_grant_value);
} tg_grants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_LSM_MAX_INODES);
	__type(key, struct tg_inode_key);
	__type(value, struct tg_inode_value);
} tg_inodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_LSM_MAX_AGENT_PIDS);
	__type(key, __u32);
	__type(value, __u32);
} tg_agent_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TG_LSM_EVENTS_BYTES);
} tg_lsm_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tg_lsm_stats SEC(".maps");

static __always_inline void tg_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&tg_lsm_stats, &stat);

	if (v)
		*v += 1;
}

// The governed cgroup of the current task (deepest match), or 0.
static __always_inline __u64 tg_governed_cgroup(void)
{
	__u64 id = bpf_get_current_cgroup_id();
	__u32 zero = 0;
	struct tg_lsm_config *cfg;

	if (bpf_map_lookup_elem(&tg_governed, &id))
		return id;
	cfg = bpf_map_lookup_elem(&tg_lsm_cfg, &zero);
	if (!cfg || !cfg->governed_levels)
		return 0;
	for (int level = TG_LSM_MAX_CGROUP_LEVEL - 1; level >= 0; level--) {
		if (!(cfg->governed_levels & (1u << level)))
			continue;
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (id && bpf_map_lookup_elem(&tg_governed, &id))
			return id;
	}
	return 0;
}

static __always_inline struct tg_lsm_event *tg_event(__u64 cgroup_id, __u8 hook, __u8 verdict)
{
	struct tg_lsm_event *e = bpf_ringbuf_reserve(&tg_lsm_events, sizeof(*e), 0);

	if (!e) {
		tg_count(TG_STAT_EVENT_DROPPED);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->time_boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = cgroup_id;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->hook = hook;
	e->verdict = verdict;
	return e;
}

// Counts and reports a denial; returns -EPERM.
static __always_inline int tg_deny(__u64 cgroup_id, __u8 hook, __u32 target_pid, __u64 ino)
{
	struct tg_lsm_event *e;

	tg_count(TG_STAT_DENY);
	e = tg_event(cgroup_id, hook, TG_VERDICT_DENY);
	if (e) {
		e->target_pid = target_pid;
		e->ino = ino;
		bpf_ringbuf_submit(e, 0);
	}
	return -EPERM;
}

// Is `t` protected (exactly, or every port of its address)?
static __always_inline bool tg_target_protected(struct tg_target_key *t)
{
	__u16 port = t->port;
	bool hit;

	if (bpf_map_lookup_elem(&tg_targets, t))
		return true;
	t->port = 0;
	hit = bpf_map_lookup_elem(&tg_targets, t) != 0;
	t->port = port;
	return hit;
}

// Connect to a protected target: allowed only by consuming a live grant.
static __always_inline int tg_connect_decision(__u64 cg, struct tg_target_key *t, __u8 family,
					       __u8 hook)
{
	struct tg_grant_key gk;
	struct tg_grant_value *g, grant;
	struct tg_lsm_event *e;

	if (!tg_target_protected(t))
		return 0;
	__builtin_memset(&gk, 0, sizeof(gk));
	gk.cgroup_id = cg;
	gk.proto = t->proto;
	gk.port = t->port;
	__builtin_memcpy(gk.addr, t->addr, sizeof(gk.addr));
	g = bpf_map_lookup_elem(&tg_grants, &gk);
	if (!g)
		goto deny;
	// Copy before delete: after the delete the element may be reused.
	__builtin_memcpy(&grant, g, sizeof(grant));
	if (bpf_map_delete_elem(&tg_grants, &gk) != 0) {
		tg_count(TG_STAT_GRANT_RACE_LOST);  // another connect consumed it
		goto deny;
	}
	if (grant.expires_boot_ns < bpf_ktime_get_boot_ns()) {
		tg_count(TG_STAT_GRANT_EXPIRED);
		goto deny;
	}
	tg_count(TG_STAT_GRANT_USED);
	e = tg_event(cg, hook, TG_VERDICT_GRANT_USED);
	if (e) {
		__builtin_memcpy(e->tao_id, grant.tao_id, sizeof(e->tao_id));
		e->port = t->port;
		e->proto = t->proto;
		e->family = family;
		__builtin_memcpy(e->addr, t->addr, sizeof(e->addr));
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
deny:
	tg_count(TG_STAT_DENY);
	e = tg_event(cg, hook, TG_VERDICT_DENY);
	if (e) {
		e->port = t->port;
		e->proto = t->proto;
		e->family = family;
		__builtin_memcpy(e->addr, t->addr, sizeof(e->addr));
		bpf_ringbuf_submit(e, 0);
	}
	return -EPERM;
}

SEC("lsm/socket_connect")
int BPF_PROG(tg_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	struct tg_target_key t;
	__u16 family;
	__u64 cg;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	family = BPF_CORE_READ(address, sa_family);
	if (family != TG_AF_INET && family != TG_AF_INET6)
		return 0;  // unix: lsm/unix_stream_connect; others carry no target
	__builtin_memset(&t, 0, sizeof(t));
	t.proto = BPF_CORE_READ(sock, sk, sk_protocol);
	if (family == TG_AF_INET) {
		struct sockaddr_in sin;

		if (bpf_probe_read_kernel(&sin, sizeof(sin), address))
			return tg_deny(cg, TG_HOOK_SOCKET_CONNECT, 0, 0);  // fail closed
		t.port = bpf_ntohs(sin.sin_port);
		t.addr[10] = 0xff;
		t.addr[11] = 0xff;
		__builtin_memcpy(&t.addr[12], &sin.sin_addr.s_addr, 4);
	} else {
		struct sockaddr_in6 sin6;

		if (bpf_probe_read_kernel(&sin6, sizeof(sin6), address))
			return tg_deny(cg, TG_HOOK_SOCKET_CONNECT, 0, 0);
		t.port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(t.addr, &sin6.sin6_addr, 16);
	}
	return tg_connect_decision(cg, &t, family, TG_HOOK_SOCKET_CONNECT);
}

#define TG_MSG_FASTOPEN 0x20000000
#define TG_SOCK_STREAM 1

// sendto/sendmsg with a destination: unconnected UDP datagrams, and TCP Fast
// Open (MSG_FASTOPEN connects inside sendmsg without security_socket_connect).
// Each datagram to a protected target needs (and consumes) its own grant;
// workloads that need many should use connected UDP.
SEC("lsm/socket_sendmsg")
int BPF_PROG(tg_socket_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	struct tg_target_key t;
	struct sockaddr_in6 sin6;
	void *name;
	int namelen;
	__u16 family;
	__u64 cg;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	name = BPF_CORE_READ(msg, msg_name);
	namelen = BPF_CORE_READ(msg, msg_namelen);
	if (!name || namelen < (int)sizeof(struct sockaddr_in))
		return 0;
	if (BPF_CORE_READ(sock, type) == TG_SOCK_STREAM &&
	    !(BPF_CORE_READ(msg, msg_flags) & TG_MSG_FASTOPEN))
		return 0;  // the kernel ignores msg_name on connected streams
	__builtin_memset(&sin6, 0, sizeof(sin6));
	if (bpf_probe_read_kernel(&sin6, namelen < (int)sizeof(sin6) ? sizeof(struct sockaddr_in) :
								      sizeof(sin6), name))
		return tg_deny(cg, TG_HOOK_SOCKET_SENDMSG, 0, 0);  // fail closed
	family = sin6.sin6_family;
	__builtin_memset(&t, 0, sizeof(t));
	t.proto = BPF_CORE_READ(sock, sk, sk_protocol);
	t.port = bpf_ntohs(sin6.sin6_port);
	if (family == TG_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&sin6;

		t.addr[10] = 0xff;
		t.addr[11] = 0xff;
		__builtin_memcpy(&t.addr[12], &sin->sin_addr.s_addr, 4);
	} else if (family == TG_AF_INET6 && namelen >= (int)sizeof(sin6)) {
		__builtin_memcpy(t.addr, &sin6.sin6_addr, 16);
	} else {
		return 0;
	}
	return tg_connect_decision(cg, &t, family, TG_HOOK_SOCKET_SENDMSG);
}

// Unix stream connects are matched by the inode of the listener's socket
// file, so relative paths, symlinks and hard links all resolve to one key.
SEC("lsm/unix_stream_connect")
int BPF_PROG(tg_unix_stream_connect, struct sock *sock, struct sock *other, struct sock *newsk,
	     int ret)
{
	struct tg_target_key t;
	struct unix_sock *peer = (struct unix_sock *)other;
	struct inode *inode;
	__u64 cg, dev, ino;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	inode = BPF_CORE_READ(peer, path.dentry, d_inode);
	if (!inode)
		return 0;  // abstract socket: no file to protect
	dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ino = BPF_CORE_READ(inode, i_ino);
	__builtin_memset(&t, 0, sizeof(t));
	t.proto = TG_PROTO_UNIX;
	__builtin_memcpy(&t.addr[0], &dev, 8);
	__builtin_memcpy(&t.addr[8], &ino, 8);
	return tg_connect_decision(cg, &t, TG_AF_UNIX, TG_HOOK_UNIX_CONNECT);
}

// Does an inode rule deny `want` for `dentry`: its own rule, or a
// TG_INODE_SUBTREE rule of a directory above it on the same mount?
static __always_inline __u64 tg_inode_denied(struct dentry *dentry, __u32 want)
{
	struct tg_inode_key key;
	struct tg_inode_value *v;
	struct dentry *parent;
	struct inode *inode;

	for (int depth = 0; depth < TG_LSM_MAX_DIR_DEPTH; depth++) {
		inode = BPF_CORE_READ(dentry, d_inode);
		if (inode) {  // a negative dentry (a name being created) has none
			key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
			key.ino = BPF_CORE_READ(inode, i_ino);
			v = bpf_map_lookup_elem(&tg_inodes, &key);
			if (v && (v->deny & want) &&
			    (depth == 0 || (v->flags & TG_INODE_SUBTREE)))
				return key.ino;
		}
		parent = BPF_CORE_READ(dentry, d_parent);
		if (!parent || parent == dentry)
			return 0;
		dentry = parent;
	}
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(tg_file_open, struct file *file, int ret)
{
	__u32 want = 0;
	__u64 cg, ino;
	unsigned int mode;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	mode = BPF_CORE_READ(file, f_mode);
	if (mode & FMODE_READ)
		want |= TG_DENY_READ;
	if (mode & FMODE_WRITE)
		want |= TG_DENY_WRITE;
	if (!want)
		return 0;
	ino = tg_inode_denied(BPF_CORE_READ(file, f_path.dentry), want);
	return ino ? tg_deny(cg, TG_HOOK_FILE_OPEN, 0, ino) : 0;
}

// Changing a protected file without opening it counts as writing it:
// truncate(2), unlink, rmdir, rename (from or onto it), chmod, chown.
static __always_inline int tg_path_write(struct dentry *dentry)
{
	__u64 cg, ino;

	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	ino = tg_inode_denied(dentry, TG_DENY_WRITE);
	return ino ? tg_deny(cg, TG_HOOK_PATH_WRITE, 0, ino) : 0;
}

SEC("lsm/path_truncate")
int BPF_PROG(tg_path_truncate, const struct path *path, int ret)
{
	return ret ? ret : tg_path_write(BPF_CORE_READ(path, dentry));
}

SEC("lsm/path_unlink")
int BPF_PROG(tg_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	return ret ? ret : tg_path_write(dentry);
}

SEC("lsm/path_rmdir")
int BPF_PROG(tg_path_rmdir, const struct path *dir, struct dentry *dentry, int ret)
{
	return ret ? ret : tg_path_write(dentry);
}

SEC("lsm/path_rename")
int BPF_PROG(tg_path_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags, int ret)
{
	if (ret)
		return ret;
	ret = tg_path_write(old_dentry);
	return ret ? ret : tg_path_write(new_dentry);
}

SEC("lsm/path_chmod")
int BPF_PROG(tg_path_chmod, const struct path *path, umode_t mode, int ret)
{
	return ret ? ret : tg_path_write(BPF_CORE_READ(path, dentry));
}

SEC("lsm/path_chown")
int BPF_PROG(tg_path_chown, const struct path *path, __u64 uid, __u64 gid, int ret)  // kuid_t, kgid_t: one slot each
{
	return ret ? ret : tg_path_write(BPF_CORE_READ(path, dentry));
}

SEC("lsm/bprm_check_security")
int BPF_PROG(tg_bprm_check_security, struct linux_binprm *bprm, int ret)
{
	__u64 cg, ino;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	ino = tg_inode_denied(BPF_CORE_READ(bprm, file, f_path.dentry), TG_DENY_EXEC);
	return ino ? tg_deny(cg, TG_HOOK_BPRM_CHECK, 0, ino) : 0;
}

SEC("lsm/task_kill")
int BPF_PROG(tg_task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig,
	     const struct cred *cred, int ret)
{
	__u32 tgid;
	__u64 cg;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	tgid = BPF_CORE_READ(p, tgid);
	if (!bpf_map_lookup_elem(&tg_agent_pids, &tgid))
		return 0;
	return tg_deny(cg, TG_HOOK_TASK_KILL, tgid, 0);
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(tg_ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	__u32 tgid;
	__u64 cg;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	tgid = BPF_CORE_READ(child, tgid);
	if (!bpf_map_lookup_elem(&tg_agent_pids, &tgid))
		return 0;
	return tg_deny(cg, TG_HOOK_PTRACE, tgid, 0);
}

// Governed tasks may not use bpf() at all: no map or program of ours can be
// read, written or detached from inside a workload. security_bpf has 3
// arguments up to 6.14 and 4 (`bool kernel` added) since; the retval slot
// follows the arguments, so there is one program per arity and the loader
// loads the one that matches the running kernel's BTF.
static __always_inline int tg_bpf_decision(int ret)
{
	__u64 cg;

	if (ret != 0)
		return ret;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	return tg_deny(cg, TG_HOOK_BPF, 0, 0);
}

SEC("lsm/bpf")
int BPF_PROG(tg_bpf3, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	return tg_bpf_decision(ret);
}

SEC("lsm/bpf")
int BPF_PROG(tg_bpf4, int cmd, union bpf_attr *attr, unsigned int size, bool kernel, int ret)
{
	return tg_bpf_decision(ret);
}

char LICENSE[] SEC("license") = "GPL";
