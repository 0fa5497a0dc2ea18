// SPDX-License-Identifier: GPL-2.0
// taogate BPF LSM programs. Each one:
//   1. returns an earlier denial unchanged (a previous BPF LSM program's
//      non-zero return is the `ret` argument);
//   2. returns 0 at once unless the current task is in a governed cgroup;
//   3. decides from the maps described byte by byte in
//      bpf/include/taogate/bpf/gate_format.h.
// Network targets are not decided here: the cgroup gate (bpf/progs) is the
// one network path on every kernel (docs/decisions.md).
// Denials are -EPERM, counted in tg_lsm_stats and reported on tg_lsm_events.
// Nothing is logged on these paths.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "lsm_common.bpf.h"

#define TG_CGROUP_SUPER_MAGIC 0x27e0ebUL
#define TG_CGROUP2_SUPER_MAGIC 0x63677270UL
#define TG_CLONE_INTO_CGROUP 0x200000000ULL
#define TG_BPF_FS_MAGIC 0xcafe4a11UL

// Does an inode rule deny `want` for `dentry`: its own rule, or a
// TG_INODE_SUBTREE rule of a directory above it on the same mount? The walk
// is bounded (TG_MAX_DIR_DEPTH levels); a file deeper than that below its
// file system root is denied (fail closed: a protected directory may be
// further up). Returns the denying inode number (the file's own one, or 1 if
// it has none yet, when the walk ran out), 0 to allow.
static __always_inline __u64 tg_inode_denied(struct dentry *dentry, __u32 want)
{
	struct tg_inode_key key;
	struct tg_inode_val *v;
	struct dentry *parent;
	struct inode *inode;
	__u64 self = 1;

	for (int depth = 0; depth < TG_MAX_DIR_DEPTH; depth++) {
		inode = BPF_CORE_READ(dentry, d_inode);
		if (inode) {  // a negative dentry (a name being created) has none
			key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
			key.ino = BPF_CORE_READ(inode, i_ino);
			if (depth == 0 && key.ino)
				self = key.ino;
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
	return self; /* too deep to tell: fail closed */
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
	if (mode & FMODE_WRITE) {
		// Writing cgroupfs (cgroup.procs of another cgroup, on any mount of
		// it) would move the task out of governance.
		unsigned long magic = BPF_CORE_READ(file, f_inode, i_sb, s_magic);

		if (magic == TG_CGROUP2_SUPER_MAGIC || magic == TG_CGROUP_SUPER_MAGIC)
			return tg_deny(cg, TG_LSM_HOOK_CGROUP_ESCAPE, 0,
				       BPF_CORE_READ(file, f_inode, i_ino));
		if (magic == TG_BPF_FS_MAGIC)
			return tg_deny(cg, TG_LSM_HOOK_SELF_STATE, 0, 0);
	}
	if (mode & FMODE_READ)
		want |= TG_DENY_READ;
	if (mode & FMODE_WRITE)
		want |= TG_DENY_WRITE;
	if (!want)
		return 0;
	ino = tg_inode_denied(BPF_CORE_READ(file, f_path.dentry), want);
	return ino ? tg_deny(cg, TG_LSM_HOOK_FILE_OPEN, 0, ino) : 0;
}

// File systems that hold taogate's own state: pinned programs and maps
// (bpffs) and the cgroup tree that defines governance.
static __always_inline bool tg_state_fs(unsigned long magic)
{
	return magic == TG_BPF_FS_MAGIC || magic == TG_CGROUP2_SUPER_MAGIC ||
	       magic == TG_CGROUP_SUPER_MAGIC;
}

// Changing a protected file without opening it counts as writing it:
// truncate(2), unlink, rmdir, rename (from or onto it), chmod, chown. On
// bpffs and cgroupfs governed tasks may change nothing (unpinning taogate's
// links, removing cgroups).
static __always_inline int tg_path_write(struct dentry *dentry)
{
	__u64 cg, ino;

	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	if (tg_state_fs(BPF_CORE_READ(dentry, d_sb, s_magic)))
		return tg_deny(cg, TG_LSM_HOOK_SELF_STATE, 0, 0);
	ino = tg_inode_denied(dentry, TG_DENY_WRITE);
	return ino ? tg_deny(cg, TG_LSM_HOOK_PATH_WRITE, 0, ino) : 0;
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

// Unmounting bpffs drops taogate's pins; unmounting cgroupfs hides the tree.
SEC("lsm/sb_umount")
int BPF_PROG(tg_sb_umount, struct vfsmount *mnt, int flags, int ret)
{
	__u64 cg;

	if (ret != 0)
		return ret;
	if (!tg_state_fs(BPF_CORE_READ(mnt, mnt_sb, s_magic)))
		return 0;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	return tg_deny(cg, TG_LSM_HOOK_SELF_STATE, 0, 0);
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
	return ino ? tg_deny(cg, TG_LSM_HOOK_BPRM_CHECK, 0, ino) : 0;
}

// clone3(CLONE_INTO_CGROUP) places the child in another cgroup without
// writing cgroup.procs: governed tasks may not use it.
SEC("lsm/task_alloc")
int BPF_PROG(tg_task_alloc, struct task_struct *task, __u64 clone_flags, int ret)
{
	__u64 cg;

	if (ret != 0)
		return ret;
	if (!(clone_flags & TG_CLONE_INTO_CGROUP))
		return 0;
	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	return tg_deny(cg, TG_LSM_HOOK_CGROUP_ESCAPE, 0, 0);
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
	return tg_deny(cg, TG_LSM_HOOK_TASK_KILL, tgid, 0);
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
	return tg_deny(cg, TG_LSM_HOOK_PTRACE, tgid, 0);
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
	return tg_deny(cg, TG_LSM_HOOK_BPF, 0, 0);
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
