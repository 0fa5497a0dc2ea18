// SPDX-License-Identifier: GPL-2.0
// Kill-on-open and kill-on-exec: the file and exec fallback for kernels
// without BPF LSM (lsm/file_open and lsm/bprm_check_security are refused
// there). Included by gate.bpf.c. Map format: gate_format.h (tg_inodes).
//
// Both programs are global tracing programs: the loader attaches them only
// while tg_inodes is non-empty (tg_config.inodes_protected), and each one
// leaves on its cheapest test first and acts only for tasks inside the
// governed subtree. Neither can make the syscall fail; they SIGKILL the
// process before it returns to user space:
//   - open: the open completes (O_CREAT / O_TRUNC side effects happen), but
//     the thread never runs user code again, so it never uses the fd.
//   - exec: the new image is loaded but the process dies before its first
//     user instruction.
// Matching is on {s_dev, i_ino} of the opened file (and of its parent
// directories for subtree rules), so symlinks, hard links, relative paths
// and /proc/self/fd re-opens name the same inode and cannot dodge it.
// Besides open*(), while inodes are protected the sys_exit program also
// checks pidfd_getfd (the new fd's inode, like an open) and kills any
// governed io_uring_setup / io_uring_enter (io_uring opens bypass the
// syscall hooks), and
// tg_sched_fork kills a governed process that creates another process
// sharing its fd table (clone(CLONE_FILES) without CLONE_THREAD: the child
// would open the protected file, die, and leave the fd to the parent); the
// child itself is killed at its own return from clone.

/* x86_64 syscall numbers, and the i386 numbers a 64-bit process can reach
 * with int $0x80 (IA32 emulation): both tables must be covered. x32 calls
 * carry bit 30 and share these numbers. */
#define NR_OPEN 2
#define NR_CREAT 85
#define NR_OPENAT 257
#define NR_OPEN_BY_HANDLE_AT 304
#define NR_OPENAT2 437
#define NR32_OPEN 5
#define NR32_CREAT 8
#define NR32_OPENAT 295
#define NR32_OPEN_BY_HANDLE_AT 342
#define NR32_OPENAT2 437
#define NR_PIDFD_GETFD 438 /* same number in both tables */
#define NR_IO_URING_SETUP 425 /* same number in both tables */
#define NR_IO_URING_ENTER 426 /* same number in both tables */
#define NR_CLONE 56
#define NR_CLONE3 435 /* same number in both tables */
#define NR32_CLONE 120
#define X32_SYSCALL_BIT 0x40000000
#include "taogate/bpf/kernel_defs.bpf.h" /* FMODE_READ, FMODE_WRITE */
#define O_TRUNC 01000

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_MAX_INODES);
	__type(key, struct tg_inode_key);
	__type(value, struct tg_inode_val);
} tg_inodes SEC(".maps");

// Does a rule deny any of `want` for `dentry`: its own rule, or a subtree
// rule of a directory above it? Walks d_parent up to the file system's root
// (like the LSM programs: a bind mount of a directory below a protected one
// is still below it), at most TG_MAX_DIR_DEPTH levels: a deeper file counts
// as matching (all of `want`) while subtree rules exist. Returns the matched
// deny bits and the rule's key.
static __always_inline __u32 inode_denied(const struct tg_config *c, struct dentry *dentry,
					  __u32 want, struct tg_inode_key *hit)
{
	struct tg_inode_key self = {};
	struct tg_inode_val *v;
	struct dentry *parent;
	struct inode *inode;

	for (int depth = 0; depth < TG_MAX_DIR_DEPTH; depth++) {
		inode = BPF_CORE_READ(dentry, d_inode);
		if (inode) {
			hit->dev = BPF_CORE_READ(inode, i_sb, s_dev);
			hit->ino = BPF_CORE_READ(inode, i_ino);
			if (depth == 0)
				self = *hit;
			v = bpf_map_lookup_elem(&tg_inodes, hit);
			if (v && (v->deny & want) &&
			    (depth == 0 || (v->flags & TG_INODE_SUBTREE)))
				return v->deny & want;
		}
		if (!c->inodes_subtree)
			return 0; /* no subtree rules: the file's own inode decides */
		parent = BPF_CORE_READ(dentry, d_parent);
		if (!parent || parent == dentry)
			return 0;
		dentry = parent;
	}
	/* Only reached while subtree rules exist (see above): the walk ran out
	 * of levels before the file system root, so a protected directory may
	 * be further up. Fail closed; the event names the file itself. */
	*hit = self;
	return want;
}

static __always_inline void kill_for_inode(__u64 wid, __u8 hook, __u32 cnt, __u32 denied,
					   const struct tg_inode_key *hit)
{
	struct decision d = { .hook = hook, .verdict = TG_KILL };

	bpf_send_signal(SIGKILL);
	d.cgroup_id = wid;
	d.proto = denied;
	__builtin_memcpy(d.addr, hit, sizeof(*hit));
	count(cnt);
	emit(&d);
}

static __always_inline int is_open_nr(long id, int compat)
{
	if (compat)
		return id == NR32_OPEN || id == NR32_CREAT || id == NR32_OPENAT ||
		       id == NR32_OPEN_BY_HANDLE_AT || id == NR32_OPENAT2;
	return id == NR_OPEN || id == NR_CREAT || id == NR_OPENAT ||
	       id == NR_OPEN_BY_HANDLE_AT || id == NR_OPENAT2 || id == NR_PIDFD_GETFD;
}

// Children of a fd-table-sharing clone, marked by tg_sched_fork before they
// first run and killed at their return from clone (their parent may have
// died already, so nothing else tells them apart then).
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} tg_fork_doomed SEC(".maps");

static __always_inline int is_clone_nr(long id, int compat)
{
	return id == NR_CLONE3 || id == (compat ? NR32_CLONE : NR_CLONE);
}

// Any syscall the sys_exit program looks at, in either table.
static __always_inline int is_watched_nr(long id)
{
	return is_open_nr(id, 0) || is_open_nr(id, 1) || id == NR_IO_URING_SETUP ||
	       id == NR_IO_URING_ENTER ||
	       id == NR_CLONE || id == NR32_CLONE || id == NR_CLONE3;
}

static __always_inline void kill_fork(__u64 wid, __u64 child_pid)
{
	struct decision d = { .hook = TG_HOOK_FORK_KILL, .verdict = TG_KILL };

	bpf_send_signal(SIGKILL);
	d.cgroup_id = wid;
	__builtin_memcpy(d.addr, &child_pid, sizeof(child_pid));
	count(TG_CNT_KILL_OPEN);
	emit(&d);
}

// The open flags the caller passed (only O_TRUNC is used: O_RDONLY|O_TRUNC
// truncates a file yet yields a read-only struct file). The argument
// registers are still the caller's at sys_exit.
static __always_inline __u64 open_flags(struct pt_regs *regs, long id, int compat)
{
	__u64 how_flags = 0, flags;

	if (compat)
		flags = id == NR32_OPEN ? regs->cx : regs->dx;
	else
		flags = id == NR_OPEN ? regs->si : regs->dx;
	if (id == NR_OPENAT2) { /* same number in both tables; dx = struct open_how * */
		/* Unreadable now (unmapped by another thread since the open):
		 * assume the worst, a truncating open. */
		if (bpf_probe_read_user(&how_flags, sizeof(how_flags), (void *)flags) != 0)
			how_flags = O_TRUNC;
		barrier_var(how_flags);
		flags = how_flags;
	}
	return flags;
}

// Global: every syscall exit on the host. Order: failed syscall, syscall
// number (either table), config, governed subtree, then the fd table.
SEC("tp_btf/sys_exit")
int BPF_PROG(tg_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct tg_inode_key hit = {};
	struct tg_config *c;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;
	__u32 want = 0, denied;
	__u64 wid = 0;
	unsigned int fmode;
	int compat;
	long id;

	if (ret < 0)
		return 0;
	id = regs->orig_ax & ~(long)X32_SYSCALL_BIT; /* trusted BTF pointers: direct loads */
	if (!is_watched_nr(id))
		return 0;
	task = bpf_get_current_task_btf();
	compat = task->thread_info.status & TS_COMPAT;
	if (id == NR_IO_URING_SETUP || id == NR_IO_URING_ENTER) {
		/* io_uring's own openat/files ops never pass through here. A
		 * ring set up before the first rule dies at its next enter
		 * (that call's batch has run; SQPOLL rings need no enter). */
		c = gate_config();
		if (c && c->inodes_protected && governed_task(c, &wid))
			kill_for_inode(wid, TG_HOOK_OPEN_KILL, TG_CNT_KILL_OPEN, 0, &hit);
		return 0;
	}
	if (ret == 0 && is_clone_nr(id, compat)) {
		/* The child of a clone, first return to user space: marked by
		 * tg_sched_fork if it shares its parent's fd table. */
		if (!bpf_task_storage_get(&tg_fork_doomed, task, 0, 0))
			return 0;
		/* Marked only while governed: killed whatever it is now. */
		c = gate_config();
		if (c)
			resolve_current(c, &wid);
		kill_fork(wid, task->pid);
		return 0;
	}
	if (!is_open_nr(id, compat))
		return 0;
	c = gate_config();
	if (!c || !c->inodes_protected || !governed_task(c, &wid))
		return 0;
	fdt = task->files->fdt;
	if (!fdt || (unsigned long)ret >= fdt->max_fds)
		return 0;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[ret]) != 0 || !f)
		return 0; /* closed again by another thread: nothing was handed out here */
	fmode = BPF_CORE_READ(f, f_mode);
	if (fmode & FMODE_READ)
		want |= TG_DENY_READ;
	if ((fmode & FMODE_WRITE) || (open_flags(regs, id, compat) & O_TRUNC))
		want |= TG_DENY_WRITE;
	if (!want)
		return 0; /* O_PATH: neither readable nor writable */
	denied = inode_denied(c, BPF_CORE_READ(f, f_path.dentry), want, &hit);
	if (denied)
		kill_for_inode(wid, TG_HOOK_OPEN_KILL, TG_CNT_KILL_OPEN, denied, &hit);
	return 0;
}

// Runs in the exec'ing task after the point of no return, before the new
// image executes anything in user space. bprm->file is the binary the
// kernel loaded (for #! scripts: the interpreter).
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tg_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct tg_inode_key hit = {};
	struct tg_config *c = gate_config();
	__u64 wid = 0;
	__u32 denied;

	if (!c || !c->inodes_protected || !governed_task(c, &wid))
		return 0;
	denied = inode_denied(c, BPF_CORE_READ(bprm, file, f_path.dentry), TG_DENY_EXEC,
			      &hit);
	if (denied)
		kill_for_inode(wid, TG_HOOK_EXEC_KILL, TG_CNT_KILL_EXEC, denied, &hit);
	return 0;
}

// Runs in the parent (current) right after a clone/fork created `child`.
// A governed process may not create another process (another thread group)
// that shares its fd table while files are protected: that child could
// open a protected file, be killed, and leave the fd in the shared table.
// Kills the parent's whole thread group; the child is marked in
// tg_fork_doomed and dies at its own return from clone (tg_sys_exit), before
// it runs any user code. Threads (same tgid) share the table legitimately:
// each open is checked, and the kill takes the whole group.
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tg_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	struct tg_config *c;
	__u64 wid = 0;

	if (child->files != parent->files || child->tgid == parent->tgid)
		return 0;
	c = gate_config();
	if (!c || !c->inodes_protected || !governed_task(c, &wid))
		return 0;
	bpf_task_storage_get(&tg_fork_doomed, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	kill_fork(wid, child->pid);
	return 0;
}
