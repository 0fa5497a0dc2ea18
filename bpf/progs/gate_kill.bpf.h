// SPDX-License-Identifier: GPL-2.0
// Raw sockets, quarantine and kill-on-syscall, included by gate.bpf.c.

// cgroup/sock_create runs only for AF_INET/AF_INET6 sockets (inet_create,
// inet6_create): raw IP sockets are refused here. AF_PACKET sockets never
// reach this hook; tg_sys_enter kills a governed process that asks for one.
SEC("cgroup/sock_create")
int tg_sock_create(struct bpf_sock *sk)
{
	struct tg_config *c;
	struct decision d = { .hook = TG_HOOK_SOCK_CREATE, .verdict = TG_DENY_RAW };

	if (sk->type != SOCK_RAW)
		return 1;
	c = gate_config();
	if (c && !resolve_current(c, &d.cgroup_id))
		return 1; /* ungoverned pod */
	d.family = sk->family;
	d.proto = sk->protocol;
	count(TG_CNT_DENY_RAW);
	emit(&d);
	return 0;
}

static __always_inline int skb_verdict(struct __sk_buff *skb)
{
	struct tg_config *c = gate_config();
	__u64 wid;

	if (!c)
		return 0;
	if (!c->quarantine_all && !c->quarantine_armed)
		return 1;
	if (!resolve_skb(c, skb, &wid))
		return 1; /* ungoverned pod: never quarantined */
	if (!c->quarantine_all && !bpf_map_lookup_elem(&tg_quarantine, &wid))
		return 1;
	count(TG_CNT_SKB_DROPPED);
	return 0;
}

// Quarantine drops every packet of the workload, established flows included,
// in both directions.
SEC("cgroup_skb/egress")
int tg_skb_egress(struct __sk_buff *skb)
{
	return skb_verdict(skb);
}

SEC("cgroup_skb/ingress")
int tg_skb_ingress(struct __sk_buff *skb)
{
	return skb_verdict(skb);
}

// Global: runs for every syscall on the host, so it leaves in two loads
// unless a kill is armed or the syscall is socket(); then it checks that the
// caller is inside this gate's governed subtree before acting.
SEC("tp_btf/sys_enter")
int BPF_PROG(tg_sys_enter, struct pt_regs *regs, long id)
{
	struct tg_config *c = gate_config();
	struct decision d = { .hook = TG_HOOK_SYS_ENTER };

	if (!c || (!c->kill_armed && id != NR_SOCKET))
		return 0;
	if (bpf_get_current_ancestor_cgroup_id(c->governed_level) != c->governed_root_id)
		return 0;
	if (!resolve_current(c, &d.cgroup_id))
		return 0; /* ungoverned pod */
	if (id == NR_SOCKET && BPF_CORE_READ(regs, di) == AF_PACKET) {
		d.verdict = TG_DENY_RAW;
		d.family = AF_PACKET;
		count(TG_CNT_DENY_RAW);
		bpf_send_signal(SIGKILL);
		emit(&d);
		return 0;
	}
	if (c->kill_armed && (quarantine_of(c, d.cgroup_id) & TG_QUARANTINE_KILL)) {
		d.verdict = TG_KILL;
		count(TG_CNT_KILL);
		bpf_send_signal(SIGKILL);
		emit(&d);
	}
	return 0;
}
