// SPDX-License-Identifier: GPL-2.0
// Raw sockets, quarantine and kill-on-syscall, included by gate.bpf.c.

// cgroup/sock_create runs only for AF_INET/AF_INET6 sockets (inet_create,
// inet6_create): raw IP sockets are refused here. AF_PACKET (also spelled
// socket(AF_INET, SOCK_PACKET)) and AF_XDP sockets never reach this hook;
// tg_cap_capable kills a governed process that creates one.
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

/* socket(AF_INET, SOCK_PACKET) is turned into AF_PACKET by __sock_create. */
static __always_inline int is_packet_family(__u64 family, __u64 type)
{
	return family == AF_PACKET || (family == AF_INET && (type & SOCK_TYPE_MASK) == SOCK_PACKET);
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
	if (id == NR_SOCKET && is_packet_family(BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si))) {
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

// Global: runs for every capability check on the host (tracepoint
// cap_capable, 6.15+), and leaves on the first compare unless the check is
// for CAP_NET_RAW and succeeded. Every way to a packet-level socket asks for
// CAP_NET_RAW (packet_create, xsk_create, SOCK_PACKET via packet_create),
// whatever the syscall path: native or int $0x80 socket(), socketcall(),
// io_uring's IORING_OP_SOCKET inline or in an io-wq worker. A governed task
// whose CAP_NET_RAW check succeeds is SIGKILLed (it dies before returning to
// user space; the socket itself is created), except for two uses that
// cannot get below the IP hooks, recognized from a native syscall's
// registers: setsockopt (SO_MARK, IP_TRANSPARENT, SO_PRIORITY,
// SO_BINDTODEVICE re-route or re-mark a socket the connect hooks still
// judge) and socket(AF_INET/AF_INET6, SOCK_RAW) (refused with EPERM by
// tg_sock_create right after this check). Any other CAP_NET_RAW use by a
// governed task (e.g. a SO_MARK cmsg on sendmsg) is killed too: governed
// workloads must not need CAP_NET_RAW.
SEC("tp_btf/cap_capable")
int BPF_PROG(tg_cap_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	struct decision d = { .hook = TG_HOOK_NET_RAW_KILL, .verdict = TG_KILL };
	struct task_struct *task;
	struct tg_config *c;
	struct pt_regs *regs;
	__u64 family = 0, type = 0;
	long id;

	if (cap != CAP_NET_RAW || ret != 0)
		return 0;
	c = gate_config();
	if (!c || !governed_task(c, &d.cgroup_id))
		return 0;
	task = bpf_get_current_task_btf();
	if (!(task->thread_info.status & TS_COMPAT) && !(task->flags & PF_IO_WORKER)) {
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		id = regs->orig_ax;
		if (id == NR_SETSOCKOPT)
			return 0;
		if (id == NR_SOCKET) {
			family = regs->di;
			type = regs->si;
			if ((family == AF_INET || family == AF_INET6) && !is_packet_family(family, type))
				return 0;
		}
	}
	d.family = is_packet_family(family, type) ? AF_PACKET : family;
	count(TG_CNT_KILL);
	bpf_send_signal(SIGKILL);
	emit(&d);
	return 0;
}
