// SPDX-License-Identifier: GPL-2.0
// taogate's kernel gate. Map formats: bpf/include/taogate/bpf/gate_format.h.
//
// Governance: the cgroup programs are attached at the governed subtree root,
// so they only ever run for sockets created inside it; their root-attached
// twins (gate_foreign.bpf.h) first check that the caller is governed and the
// socket is not. The global programs
// (tp_btf/sys_enter, sys_exit, sched_process_exec) check the governed root
// themselves before doing anything.
//
// The destination judged is the one the kernel will use: an unspecified
// address (0.0.0.0, ::, ::ffff:0.0.0.0) is resolved here as the kernel would
// and written back into ctx first (check4/check6).
// Pods mode (tg_config.pods): a caller in an ungoverned pod is left alone
// by every hook; see gate_workload.bpf.h for who the workload is.
// Verdict for a governed connect/sendmsg (first match wins):
//   1. quarantined (all, or the workload's cgroup)       -> deny
//   2. destination not protected under the current mode   -> allow
//   3. audit mode (TG_TARGET_AUDIT, or the workload in tg_audit): allow; a
//      valid grant is only looked at (never consumed), without one the
//      event says what 4/5 would have done (audit = 1, "WOULD_DENY")
//   4. a grant for {workload cgroup, proto, addr, port}   -> consume, allow
//   5. otherwise                                          -> deny (EPERM)
// Every map-lookup failure on the way to "allow" is a deny (fail closed).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "taogate/bpf/gate_format.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define SOCK_RAW 3
#define SOCK_PACKET 10
#define SOCK_TYPE_MASK 0xf
#define SIGKILL 9
#define CAP_NET_RAW 13
#define PF_IO_WORKER 0x00000010
#define TS_COMPAT 0x0002 /* thread_info.status: a 32-bit syscall is active */
#define NR_SOCKET 41 /* x86_64 */
#define NR_SETSOCKOPT 54 /* x86_64 */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct tg_lpm4_key);
	__type(value, struct tg_target_val);
} tg_targets4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct tg_lpm6_key);
	__type(value, struct tg_target_val);
} tg_targets6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_port_key);
	__type(value, __u32);
} tg_target_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tg_unix_key);
	__type(value, struct tg_target_val);
} tg_unix_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct tg_grant_key);
	__type(value, struct tg_grant_val);
} tg_grants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct tg_unix_grant_key);
	__type(value, struct tg_grant_val);
} tg_unix_grants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} tg_quarantine SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} tg_audit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_config);
} tg_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tg_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} tg_events SEC(".maps");

// Weak: absent before 6.2, where its only users (the unix hooks) are not
// loaded either (gate.cc); a strong extern would fail the whole object.
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

#include "gate_workload.bpf.h"

static __always_inline struct tg_config *gate_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_config, &zero);
}

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&tg_counters, &idx);

	if (v)
		*v += 1; /* per-CPU slot: no atomics needed */
}

struct decision {
	__u64 cgroup_id;
	__u8 tao_id[16];
	__u32 verdict;
	__u16 port;
	__u8 proto;
	__u8 family;
	__u8 hook;
	__u8 audit;
	__u8 addr[16];
};

static __always_inline void emit(const struct decision *d)
{
	struct tg_decision_event *e;

	e = bpf_ringbuf_reserve(&tg_events, sizeof(*e), 0);
	if (!e) {
		count(TG_CNT_EVENTS_LOST);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_ns();
	e->cgroup_id = d->cgroup_id;
	__builtin_memcpy(e->tao_id, d->tao_id, sizeof(e->tao_id));
	e->verdict = d->verdict;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->port = d->port;
	e->proto = d->proto;
	e->family = d->family;
	e->hook = d->hook;
	e->audit = d->audit;
	__builtin_memcpy(e->addr, d->addr, sizeof(e->addr));
	/* No wakeup: a wakeup is an irq_work (~1.5 us measured here, on every
	 * allowed connect) and would let a deny loop drive IPIs. The reader
	 * polls in short slices instead (Gate::PollEvents). */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

static __always_inline __u32 quarantine_of(const struct tg_config *c, __u64 wid)
{
	__u32 *q;

	if (c->quarantine_all)
		return c->quarantine_all;
	if (!c->quarantine_armed)
		return 0;
	q = bpf_map_lookup_elem(&tg_quarantine, &wid);
	return q ? *q : 0;
}

// Claims a grant for exactly one caller. The cmpxchg on state is the
// linearization point: of any number of concurrent hooks that found the same
// element, exactly one sees state 0 and sets it to 1; all others see 1 and
// deny. tao_id/expiry are read only after winning, from the element that was
// claimed. The delete afterwards only frees the slot; if user space replaced
// the element in between, the new element has state 0 again and is a new
// grant (user space installs with BPF_NOEXIST, so it never overwrites a live
// grant). Returns TG_ALLOW_GRANT, TG_DENY_EXPIRED or TG_DENY.
static __always_inline __u32 consume_grant(void *map, const void *key, __u64 cgroup_id,
					   __u8 *tao_id)
{
	struct tg_grant_val *g;
	struct tg_grant_key tk = {};
	__u64 expiry;
	__u32 flags;

	g = bpf_map_lookup_elem(map, key);
	if (!g)
		return TG_DENY;
	if (__sync_val_compare_and_swap(&g->state, 0, 1) != 0)
		return TG_DENY;
	__builtin_memcpy(tao_id, g->tao_id, 16);
	expiry = g->expiry_ns;
	flags = g->flags;
	bpf_map_delete_elem(map, key);
	if (flags & TG_GRANT_SHARED) {
		// One of a set: the set's token decides. A sibling that consumed
		// it first (or its expiry sweep) leaves this entry worthless.
		tk.cgroup_id = cgroup_id;
		__builtin_memcpy(tk.addr, tao_id, 16);
		g = bpf_map_lookup_elem(&tg_grants, &tk);
		if (!g || __sync_val_compare_and_swap(&g->state, 0, 1) != 0)
			return TG_DENY;
		bpf_map_delete_elem(&tg_grants, &tk);
	}
	if (bpf_ktime_get_ns() >= expiry)
		return TG_DENY_EXPIRED;
	return TG_ALLOW_GRANT;
}

// Audit mode: what consume_grant would answer, without claiming anything.
// A grant that consume_grant would honour (present, unclaimed, not expired,
// its set's token unclaimed) allows silently; otherwise the verdict that
// enforce mode would have denied with is reported with audit = 1.
static __always_inline __u32 peek_grant(void *map, const void *key, __u64 cgroup_id)
{
	struct tg_grant_val *g;
	struct tg_grant_key tk = {};

	g = bpf_map_lookup_elem(map, key);
	if (!g || g->state != 0)
		return TG_DENY;
	if (g->flags & TG_GRANT_SHARED) {
		tk.cgroup_id = cgroup_id;
		__builtin_memcpy(tk.addr, g->tao_id, 16);
		if (bpf_ktime_get_ns() >= g->expiry_ns)
			return TG_DENY_EXPIRED;
		g = bpf_map_lookup_elem(&tg_grants, &tk);
		if (!g || g->state != 0)
			return TG_DENY;
		return TG_ALLOW_GRANT;
	}
	if (bpf_ktime_get_ns() >= g->expiry_ns)
		return TG_DENY_EXPIRED;
	return TG_ALLOW_GRANT;
}

static __always_inline int audited(const struct tg_config *c, __u32 kind, __u64 wid)
{
	if (kind == TG_TARGET_AUDIT)
		return 1;
	return c->audit_armed && bpf_map_lookup_elem(&tg_audit, &wid);
}

// Allows; reports what enforce mode would have denied (no deny counter:
// nothing was denied).
static __always_inline int finish_audit(struct decision *d, void *map, const void *key)
{
	d->verdict = peek_grant(map, key, d->cgroup_id);
	if (d->verdict == TG_ALLOW_GRANT)
		return 1;
	d->audit = 1;
	emit(d);
	return 1;
}

static __always_inline int finish(struct decision *d)
{
	switch (d->verdict) {
	case TG_ALLOW_GRANT:
		count(TG_CNT_ALLOW_GRANT);
		break;
	case TG_DENY_EXPIRED:
		count(TG_CNT_DENY_EXPIRED);
		break;
	case TG_DENY_QUARANTINE:
		count(TG_CNT_DENY_QUARANTINE);
		break;
	default:
		count(TG_CNT_DENY);
	}
	emit(d);
	return d->verdict == TG_ALLOW_GRANT ? 1 : 0;
}

// True if the mode says a destination with this target-kind needs a grant.
static __always_inline int needs_grant(const struct tg_config *c, __u32 kind)
{
	if (c->mode == TG_MODE_DENY_ALL)
		return kind != TG_TARGET_ALLOW;
	return kind == TG_TARGET_PROTECT || kind == TG_TARGET_AUDIT;
}

static __always_inline __u32 lookup_kind4(__u8 proto, __u16 port, const __u8 *addr)
{
	struct tg_lpm4_key k = { .prefixlen = 24 + 32, .proto = proto };
	struct tg_target_val *v;

	k.port_be[0] = port >> 8;
	k.port_be[1] = port & 0xff;
	__builtin_memcpy(k.addr, addr, 4);
	v = bpf_map_lookup_elem(&tg_targets4, &k);
	if (v)
		return v->kind;
	k.port_be[0] = 0;
	k.port_be[1] = 0;
	v = bpf_map_lookup_elem(&tg_targets4, &k);
	return v ? v->kind : 0;
}

static __always_inline __u32 lookup_kind6(__u8 proto, __u16 port, const __u8 *addr)
{
	struct tg_lpm6_key k = { .prefixlen = 24 + 128, .proto = proto };
	struct tg_target_val *v;

	k.port_be[0] = port >> 8;
	k.port_be[1] = port & 0xff;
	__builtin_memcpy(k.addr, addr, 16);
	v = bpf_map_lookup_elem(&tg_targets6, &k);
	if (v)
		return v->kind;
	k.port_be[0] = 0;
	k.port_be[1] = 0;
	v = bpf_map_lookup_elem(&tg_targets6, &k);
	return v ? v->kind : 0;
}

// family is AF_INET (addr[0..3]) or AF_INET6; v4-mapped is normalized first.
static __always_inline int decide_ip(__u8 hook, __u8 proto, __u8 family, __u16 port,
				     const __u8 *addr)
{
	struct tg_config *c = gate_config();
	struct decision d = { .hook = hook, .proto = proto, .port = port };
	struct tg_grant_key gk = {};
	struct tg_port_key pk = { .port = port, .proto = proto };
	int resolved = 0;
	__u32 kind;

	if (!c)
		return 0;
	d.family = family;
	__builtin_memcpy(d.addr, addr, 16);
	// The workload is only resolved when a quarantine exists or the
	// destination needs a grant: the common allow path skips it. An
	// ungoverned pod leaves at resolution, before any counter or event.
	if (c->quarantine_all || c->quarantine_armed) {
		if (!resolve_current(c, &d.cgroup_id))
			return 1;
		resolved = 1;
		if (quarantine_of(c, d.cgroup_id)) {
			d.verdict = TG_DENY_QUARANTINE;
			return finish(&d);
		}
	}
	kind = 0;
	if (c->mode != TG_MODE_PROTECT_LISTED || c->anyport_targets ||
	    bpf_map_lookup_elem(&tg_target_ports, &pk))
		kind = family == AF_INET ? lookup_kind4(proto, port, addr)
					 : lookup_kind6(proto, port, addr);
	if (!needs_grant(c, kind))
		return 1;
	if (!resolved && !resolve_current(c, &d.cgroup_id))
		return 1;
	count(TG_CNT_CHECKED);
	gk.cgroup_id = d.cgroup_id;
	gk.proto = proto;
	gk.family = family;
	gk.port = port;
	__builtin_memcpy(gk.addr, addr, 16);
	if (audited(c, kind, d.cgroup_id))
		return finish_audit(&d, &tg_grants, &gk);
	d.verdict = consume_grant(&tg_grants, &gk, d.cgroup_id, d.tao_id);
	return finish(&d);
}

// Unspecified destinations. The kernel rewrites them only AFTER this hook:
//   IPv4 0.0.0.0 (connect, UDP sendmsg, also reached from v6 sockets through
//     ::ffff:0.0.0.0 or an AF_INET sockaddr): ip_route_output_key_hash_rcu
//     sets daddr = saddr (connect: the socket's source address; sendmsg:
//     ipc.addr, i.e. IP_PKTINFO's ipi_spec_dst or the socket's source, which
//     is ctx->msg_src_ip4), and 127.0.0.1 if that is 0 too;
//   IPv6 :: : tcp_v6_connect / __ip6_datagram_connect use ::1, or
//     ::ffff:127.0.0.1 if the socket's rcv_saddr is v4-mapped;
//     udpv6_sendmsg uses ::1.
// So the gate computes that destination itself, writes it into ctx (the
// kernel then connects or sends to exactly the address that was judged; a
// later bind() by another thread changes nothing) and decides on it. The
// common path pays one compare. Other 0.0.0.0/8 addresses and ::a.b.c.d are
// unroutable here and left alone (tested). See docs/kernel.md.
#define TG_LOOPBACK4 bpf_htonl(0x7f000001)

static __always_inline __u32 real_dst4(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 ip = 0;

	if (hook == TG_HOOK_SENDMSG4)
		ip = ctx->msg_src_ip4;
	else if (sk)
		ip = sk->src_ip4; /* the v4 source, also for a v6 socket */
	return ip ? ip : TG_LOOPBACK4;
}

static __always_inline int check4(struct bpf_sock_addr *ctx, __u8 hook)
{
	__u8 addr[16] = {};
	__u32 ip = ctx->user_ip4;

	if (ip == 0) {
		ip = real_dst4(ctx, hook);
		ctx->user_ip4 = ip;
	}
	__builtin_memcpy(addr, &ip, 4);
	return decide_ip(hook, ctx->protocol, AF_INET, bpf_ntohs(ctx->user_port), addr);
}

// `::` -> ::1, or ::ffff:127.0.0.1 on a connect from a socket whose source
// is v4-mapped (for sendmsg6 the kernel converted that case before the hook).
// Returns the v4 address for a v4-mapped result, else 0 with w set to ::1.
static __always_inline __u32 real_dst6_any(struct bpf_sock_addr *ctx, __u8 hook, __u32 *w)
{
	struct bpf_sock *sk = ctx->sk;

	if (hook == TG_HOOK_CONNECT6 && sk && sk->src_ip6[0] == 0 && sk->src_ip6[1] == 0 &&
	    sk->src_ip6[2] == bpf_htonl(0x0000ffff)) {
		w[2] = bpf_htonl(0x0000ffff);
		w[3] = TG_LOOPBACK4;
		return TG_LOOPBACK4;
	}
	w[3] = bpf_htonl(1);
	return 0;
}

static __always_inline int check6(struct bpf_sock_addr *ctx, __u8 hook)
{
	__u32 w[4];
	__u8 addr[16] = {};
	__u32 v4 = 0;

	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if (w[0] == 0 && w[1] == 0 && (w[2] | w[3]) == 0) {
		v4 = real_dst6_any(ctx, hook, w);
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
	} else if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff)) {
		v4 = w[3]; /* ::ffff:a.b.c.d is IPv4 */
		if (v4 == 0) {
			/* ::ffff:0.0.0.0 takes the IPv4 path: 0.0.0.0 rules */
			v4 = real_dst4(ctx, hook);
			ctx->user_ip6[3] = v4;
		}
	}
	if (v4) {
		__builtin_memcpy(addr, &v4, 4);
		return decide_ip(hook, ctx->protocol, AF_INET, bpf_ntohs(ctx->user_port), addr);
	}
	__builtin_memcpy(addr, w, 16);
	return decide_ip(hook, ctx->protocol, AF_INET6, bpf_ntohs(ctx->user_port), addr);
}

SEC("cgroup/connect4")
int tg_connect4(struct bpf_sock_addr *ctx)
{
	return check4(ctx, TG_HOOK_CONNECT4);
}

SEC("cgroup/connect6")
int tg_connect6(struct bpf_sock_addr *ctx)
{
	return check6(ctx, TG_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg4")
int tg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return check4(ctx, TG_HOOK_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int tg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return check6(ctx, TG_HOOK_SENDMSG6);
}

#include "gate_unix.bpf.h"
#include "gate_foreign.bpf.h"
#include "gate_kill.bpf.h"
#include "gate_file.bpf.h"
#include "gate_escape.bpf.h"

char LICENSE[] SEC("license") = "GPL";
