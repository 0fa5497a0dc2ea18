// SPDX-License-Identifier: GPL-2.0
// Self-protection without BPF LSM: a governed process may not leave the
// governed subtree. Included by gate.bpf.c.
//
// Kernels with BPF LSM refuse the move (bpf/lsm). Here the cgroup hooks
// simply stop running for a process that writes its own pid into another
// cgroup's cgroup.procs (or is forked there with clone3(CLONE_INTO_CGROUP)),
// so these global programs kill it instead (degraded: the move completes,
// the process dies before it returns to user space):
//   - tg_escape_fork (sched_process_fork, every fork on the host): a new
//     process whose cgroup is in the subtree gets a mark in
//     tg_governed_tasks (its workload id); a new process outside the subtree
//     (or in an ungoverned pod) created by a governed parent is an escape:
//     the child dies before its first user instruction.
//   - tg_escape_attach (cgroup_attach_task, every completed migration on the
//     host, after the move): a process moved into the subtree is marked; a
//     marked (governed) process moved anywhere not governed is an escape if
//     the writer is the process itself or any governed task: the moved
//     process dies when it next returns to user space (a self-move: before
//     the write returns). Moved out by an ungoverned writer (the agent,
//     kubelet, an operator), it is a release: the mark goes.
// The loader marks the processes already in the subtree when it attaches
// these (MarkGovernedTasks, bpf/src/gate_escape.cc). Marks are per thread group leader and
// die with the task. Only the default (v2) hierarchy counts: v1 hierarchies
// (hybrid layout) carry no governance.

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} tg_governed_tasks SEC(".maps");

extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type,
				__u64 value) __ksym __weak;

// Is cgroup `cg` (any hierarchy) inside the governed subtree? Sets *wid to
// its workload as resolve_current would for a task in it.
static __always_inline int cgroup_in_subtree(const struct tg_config *c, struct cgroup *cg,
					     __u64 *wid)
{

	if (BPF_CORE_READ(cg, root, hierarchy_id) != 0)
		return 0; /* a v1 hierarchy */
	if (cgroup_ancestor_id(cg, c->governed_level) != c->governed_root_id)
		return 0;
	*wid = cgroup_ancestor_id(cg, c->governed_level + 1);
	if (c->pods && workload_kind(*wid) == TG_WORKLOAD_NESTED)
		*wid = cgroup_ancestor_id(cg, c->governed_level + 2);
	return 1;
}

// A workload id that the gate governs (pods mode: not an ungoverned pod).
static __always_inline int wid_governed(const struct tg_config *c, __u64 wid)
{
	return !c->pods || workload_kind(wid) != TG_WORKLOAD_UNGOVERNED;
}

// SIGKILLs the escaped process (`moved`, all its threads). One signal only:
// tracepoint programs run with preemption off, so the kernel defers every
// bpf_send_signal* through one per-CPU irq_work and refuses a second one
// (-EBUSY) until it has run. A governed writer that moved another process
// out, or forked one outside, therefore survives; it is still inside the
// tree and every hook still governs it, and the event names it (pid).
static __always_inline void kill_escape(__u64 wid, struct task_struct *moved, __u64 dst_id)
{
	struct decision d = { .hook = TG_HOOK_ESCAPE_KILL, .verdict = TG_KILL };
	__u64 moved_pid = BPF_CORE_READ(moved, tgid);

	if (bpf_send_signal_task(moved, SIGKILL, PIDTYPE_TGID, 0) != 0)
		d.verdict = TG_DENY; /* not delivered: the event says so */
	d.cgroup_id = wid;
	__builtin_memcpy(d.addr, &moved_pid, 8);
	__builtin_memcpy(d.addr + 8, &dst_id, 8);
	count(TG_CNT_KILL);
	emit(&d);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tg_escape_fork, struct task_struct *parent, struct task_struct *child)
{
	struct tg_config *c;
	struct cgroup *cg;
	__u64 wid = 0, pwid = 0;
	int in;

	if (!child || !parent || child->tgid == parent->tgid)
		return 0; /* a thread: its leader carries the mark */
	c = gate_config();
	if (!c)
		return 0;
	cg = BPF_CORE_READ(child, cgroups, dfl_cgrp);
	in = cg && cgroup_in_subtree(c, cg, &wid);
	if (in)
		bpf_task_storage_get(&tg_governed_tasks, child, &wid, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if ((!in || !wid_governed(c, wid)) && governed_task(c, &pwid))
		kill_escape(pwid, child, cg ? BPF_CORE_READ(cg, kn, id) : 0);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(tg_escape_attach, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	struct task_struct *leader, *cur;
	struct tg_config *c;
	__u64 wid = 0, cwid = 0, *mark;
	int in;

	if (!dst || !task)
		return 0;
	c = gate_config();
	if (!c || BPF_CORE_READ(dst, root, hierarchy_id) != 0)
		return 0;
	in = cgroup_in_subtree(c, dst, &wid);
	leader = task->group_leader;
	mark = bpf_task_storage_get(&tg_governed_tasks, leader, 0, 0);
	if (mark && wid_governed(c, *mark) && !(in && wid_governed(c, wid))) {
		cur = bpf_get_current_task_btf();
		if (cur->tgid == task->tgid || governed_task(c, &cwid)) {
			kill_escape(*mark, task, BPF_CORE_READ(dst, kn, id));
			return 0;
		}
	}
	if (in) {
		mark = bpf_task_storage_get(&tg_governed_tasks, leader, &wid,
					    BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (mark)
			*mark = wid;
	} else if (mark) {
		bpf_task_storage_delete(&tg_governed_tasks, leader);
	}
	return 0;
}
