/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lsm_common.bpf.h: maps and helpers shared by every taogate BPF LSM program.
 * Included once, by lsm_gate.bpf.c (one object, one skeleton, one set of
 * maps). Map layouts: bpf/include/taogate/bpf/gate_format.h.
 */
#ifndef TAOGATE_BPF_LSM_COMMON_BPF_H_
#define TAOGATE_BPF_LSM_COMMON_BPF_H_

#include "taogate/bpf/gate_format.h"
#include "taogate/bpf/kernel_defs.bpf.h"

#define EPERM 1

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
	__uint(max_entries, TG_MAX_INODES);
	__type(key, struct tg_inode_key);
	__type(value, struct tg_inode_val);
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
	__uint(max_entries, TG_LSM_STAT_MAX);
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
	__u32 zero = 0;
	struct tg_lsm_config *cfg;
	__u64 id;

	// Every governed cgroup sets its level bit (LsmGate::Govern), so an
	// empty mask means nothing is governed: one array lookup and out.
	cfg = bpf_map_lookup_elem(&tg_lsm_cfg, &zero);
	if (!cfg || !cfg->governed_levels)
		return 0;
	id = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&tg_governed, &id))
		return id;
	for (int level = TG_LSM_MAX_CGROUP_LEVEL - 1; level >= 0; level--) {
		if (!(cfg->governed_levels & (1u << level)))
			continue;
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (id && bpf_map_lookup_elem(&tg_governed, &id))
			return id;
	}
	return 0;
}

// Counts and reports a denial; returns -EPERM.
static __always_inline int tg_deny(__u64 cgroup_id, __u8 hook, __u32 target_pid, __u64 ino)
{
	struct tg_lsm_event *e;

	tg_count(TG_LSM_STAT_DENY);
	e = bpf_ringbuf_reserve(&tg_lsm_events, sizeof(*e), 0);
	if (!e) {
		tg_count(TG_LSM_STAT_EVENT_DROPPED);
		return -EPERM;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_ns();
	e->cgroup_id = cgroup_id;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->hook = hook;
	e->target_pid = target_pid;
	e->ino = ino;
	bpf_ringbuf_submit(e, 0);
	return -EPERM;
}

#endif /* TAOGATE_BPF_LSM_COMMON_BPF_H_ */
