// SPDX-License-Identifier: GPL-2.0
// Who is the caller? The one workload resolution every hook uses, included
// by gate.bpf.c. Rule and map format: gate_format.h ("Workload",
// tg_workloads).
//
// Governed-root mode (tg_config.pods == 0): the workload is the ancestor at
// governed_level + 1, as it always was; every caller is governed.
// Pods mode: that ancestor is looked up in tg_workloads; a NESTED entry (a
// QoS cgroup) sends the lookup one level deeper. UNGOVERNED -> the hook does
// nothing; anything else, including no entry, is governed (fail closed).
// Resolution is by level only: names are never read here.

#define TG_MAX_CGROUP_LEVEL 255

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, struct tg_workload_val);
} tg_workloads SEC(".maps");

// The kind recorded for cgroup `id` (0: unclassified).
static __always_inline __u32 workload_kind(__u64 id)
{
	struct tg_workload_val *w = bpf_map_lookup_elem(&tg_workloads, &id);

	return w ? w->kind : 0;
}

// Returns 1 with *wid set if the current task is governed, 0 if it belongs
// to an ungoverned pod (the caller must then leave at once, silently).
static __always_inline int resolve_current(const struct tg_config *c, __u64 *wid)
{
	__u32 kind;

	*wid = bpf_get_current_ancestor_cgroup_id(c->governed_level + 1);
	if (!c->pods)
		return 1;
	kind = workload_kind(*wid);
	if (kind == TG_WORKLOAD_NESTED) {
		*wid = bpf_get_current_ancestor_cgroup_id(c->governed_level + 2);
		kind = workload_kind(*wid);
	}
	return kind != TG_WORKLOAD_UNGOVERNED;
}

// The id of cgroup `cg`'s ancestor at `level` (its own id at its level), 0
// if it is shallower or unreadable. Probe reads: cgroup->ancestors[] (6.2+)
// is indexed by a runtime level.
static __always_inline __u64 cgroup_ancestor_id(struct cgroup *cg, __u32 level)
{
	struct cgroup *anc = NULL;

	if (!cg || level > TG_MAX_CGROUP_LEVEL || BPF_CORE_READ(cg, level) < (int)level)
		return 0;
	if (bpf_probe_read_kernel(&anc, sizeof(anc), &cg->ancestors[level]) != 0 || !anc)
		return 0;
	return BPF_CORE_READ(anc, kn, id);
}

// For global (tracing) programs, which run for every task on the host:
// inside the governed subtree and not in an ungoverned pod; *wid is the
// workload.
static __always_inline int governed_task(const struct tg_config *c, __u64 *wid)
{
	if (bpf_get_current_ancestor_cgroup_id(c->governed_level) != c->governed_root_id)
		return 0;
	return resolve_current(c, wid);
}

// resolve_current for the socket of a packet (cgroup_skb programs, which
// cannot ask for the current task's cgroup).
static __always_inline int resolve_skb(const struct tg_config *c, struct __sk_buff *skb,
				       __u64 *wid)
{
	__u32 kind;

	*wid = bpf_skb_ancestor_cgroup_id(skb, c->governed_level + 1);
	if (!c->pods)
		return 1;
	kind = workload_kind(*wid);
	if (kind == TG_WORKLOAD_NESTED) {
		*wid = bpf_skb_ancestor_cgroup_id(skb, c->governed_level + 2);
		kind = workload_kind(*wid);
	}
	return kind != TG_WORKLOAD_UNGOVERNED;
}
