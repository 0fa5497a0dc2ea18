/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lsm_net.bpf.h: network programs (socket_connect, socket_sendmsg,
 * unix_stream_connect) and the one decision they share: a protected target
 * is reachable only by consuming a live one-shot grant. Included once, by
 * lsm_gate.bpf.c.
 */
#ifndef TAOGATE_BPF_LSM_NET_BPF_H_
#define TAOGATE_BPF_LSM_NET_BPF_H_

#include "lsm_common.bpf.h"

// Is `t` protected (exactly, or every port of its address)?
static __always_inline bool tg_target_protected(struct tg_lsm_target_key *t)
{
	__u16 port = t->port;
	bool hit;

	if (bpf_map_lookup_elem(&tg_lsm_targets, t))
		return true;
	t->port = 0;
	hit = bpf_map_lookup_elem(&tg_lsm_targets, t) != 0;
	t->port = port;
	return hit;
}

// The grant key for target `t` of governed cgroup `cg` (lsm_gate.h: IPv4
// and v4-mapped as TG_AF_INET in addr[0..3], like the cgroup gate).
static __always_inline void tg_grant_key_of(struct tg_lsm_grant_key *gk, __u64 cg,
					    const struct tg_lsm_target_key *t)
{
	__u64 head;
	__u16 mid;

	__builtin_memset(gk, 0, sizeof(*gk));
	gk->cgroup_id = cg;
	gk->proto = t->proto;
	gk->port = t->port;
	__builtin_memcpy(&head, &t->addr[0], 8);
	__builtin_memcpy(&mid, &t->addr[8], 2);
	if (t->proto == TG_PROTO_UNIX) {
		gk->family = TG_AF_UNIX;
		__builtin_memcpy(gk->addr, t->addr, 16);
	} else if (head == 0 && mid == 0 && t->addr[10] == 0xff && t->addr[11] == 0xff) {
		gk->family = TG_AF_INET;
		__builtin_memcpy(gk->addr, &t->addr[12], 4);
	} else {
		gk->family = TG_AF_INET6;
		__builtin_memcpy(gk->addr, t->addr, 16);
	}
}

// Counts and reports the denial of a connect/send to `t`; returns -EPERM.
static __always_inline int tg_deny_target(__u64 cg, const struct tg_lsm_target_key *t, __u8 family,
					  __u8 hook)
{
	struct tg_lsm_event *e;

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

// An unspecified destination: :: or ::ffff:0.0.0.0 (IPv4 0.0.0.0 is stored
// v4-mapped). The kernel turns it into a loopback address or the socket's
// own source address only after this hook, from socket state another thread
// can still change (bind) in between, and an LSM hook cannot rewrite the
// address as cgroup/connect* does (gate.bpf.c). So governed processes may
// not use it as a destination at all (fail closed).
static __always_inline bool tg_addr_unspecified(const struct tg_lsm_target_key *t)
{
	__u64 head;
	__u32 tail;
	__u16 mid;

	__builtin_memcpy(&head, &t->addr[0], 8);
	__builtin_memcpy(&mid, &t->addr[10], 2);
	__builtin_memcpy(&tail, &t->addr[12], 4);
	return head == 0 && t->addr[8] == 0 && t->addr[9] == 0 && tail == 0 &&
	       (mid == 0 || mid == 0xffff);
}

// Connect to a protected target: allowed only by consuming a live grant.
static __always_inline int tg_connect_decision(__u64 cg, struct tg_lsm_target_key *t, __u8 family,
					       __u8 hook)
{
	struct tg_lsm_grant_key gk;
	struct tg_lsm_grant_val *g, grant;
	struct tg_lsm_event *e;

	if (t->proto != TG_PROTO_UNIX && tg_addr_unspecified(t))
		return tg_deny_target(cg, t, family, hook);
	if (!tg_target_protected(t))
		return 0;
	tg_grant_key_of(&gk, cg, t);
	g = bpf_map_lookup_elem(&tg_grants, &gk);
	if (!g)
		goto deny;
	// The cmpxchg is the linearization point: exactly one hook claims it.
	if (__sync_val_compare_and_swap(&g->state, 0, 1) != 0) {
		tg_count(TG_STAT_GRANT_RACE_LOST);
		goto deny;
	}
	__builtin_memcpy(grant.tao_id, g->tao_id, sizeof(grant.tao_id));
	grant.expiry_ns = g->expiry_ns;
	bpf_map_delete_elem(&tg_grants, &gk);  // only frees the slot
	if (bpf_ktime_get_ns() >= grant.expiry_ns) {
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
	return tg_deny_target(cg, t, family, hook);
}

SEC("lsm/socket_connect")
int BPF_PROG(tg_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	struct tg_lsm_target_key t;
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
	struct tg_lsm_target_key t;
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
	// udp_sendmsg takes sin_family AF_UNSPEC as AF_INET (udpv6_sendmsg
	// ignores the name then): judge it as the IPv4 address it carries.
	if (family == 0 /* AF_UNSPEC */ && BPF_CORE_READ(sock, sk, __sk_common.skc_family) == TG_AF_INET)
		family = TG_AF_INET;
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
// The unix target of a peer socket: the inode of the file it is bound to.
static __always_inline int tg_unix_decision(struct sock *other, __u8 hook)
{
	struct tg_lsm_target_key t;
	struct unix_sock *peer = (struct unix_sock *)other;
	struct inode *inode;
	__u64 cg, dev, ino;

	cg = tg_governed_cgroup();
	if (!cg)
		return 0;
	inode = BPF_CORE_READ(peer, path.dentry, d_inode);
	if (!inode)
		return 0;  // abstract or unbound socket: no file to protect
	dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ino = BPF_CORE_READ(inode, i_ino);
	__builtin_memset(&t, 0, sizeof(t));
	t.proto = TG_PROTO_UNIX;
	__builtin_memcpy(&t.addr[0], &dev, 8);
	__builtin_memcpy(&t.addr[8], &ino, 8);
	return tg_connect_decision(cg, &t, TG_AF_UNIX, hook);
}

SEC("lsm/unix_stream_connect")
int BPF_PROG(tg_unix_stream_connect, struct sock *sock, struct sock *other, struct sock *newsk,
	     int ret)
{
	return ret ? ret : tg_unix_decision(other, TG_HOOK_UNIX_CONNECT);
}

// Unix datagrams: checked at connect and on every send (the kernel calls
// this hook for both), so like unconnected UDP each datagram to a protected
// socket needs its own grant.
SEC("lsm/unix_may_send")
int BPF_PROG(tg_unix_may_send, struct socket *sock, struct socket *other, int ret)
{
	return ret ? ret : tg_unix_decision(BPF_CORE_READ(other, sk), TG_HOOK_UNIX_CONNECT);
}

#endif /* TAOGATE_BPF_LSM_NET_BPF_H_ */
