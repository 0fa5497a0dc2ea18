// SPDX-License-Identifier: GPL-2.0
// Sockets created outside the governed subtree and used inside it, included
// by gate.bpf.c.
//
// The kernel runs cgroup sock_addr programs for the *socket's* cgroup (its
// creator's, sk_cgrp_data), so the gate's programs at the governed root never
// see a socket made outside the tree and handed in with SCM_RIGHTS, inherited
// from an ungoverned parent, or created before its owner moved into the tree.
// These programs are attached at the cgroup2 root, so they run for every
// socket on the host. Each one first leaves unless the *calling task* is
// inside the governed subtree and the socket is not (a socket inside it is
// judged by the governed-root program; judging it twice would spend its
// grant twice); only then does it run the same decision as the governed-root
// program, which resolves the workload from the calling task. Every other
// connect and send on the host is untouched: one config lookup, one ancestor
// id and one compare.
//
// Needs bpf_cast_to_kern_ctx and cgroup->ancestors[] (both 6.2+); the loader
// does not load these programs on older kernels (reported absent).

// The id of the socket's cgroup ancestor at `level`.
static __always_inline __u64 sock_ancestor_cgroup_id(struct bpf_sock_addr *ctx, __u32 level)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);

	return cgroup_ancestor_id(BPF_CORE_READ(sa, sk, sk_cgrp_data.cgroup), level);
}

// 1 if the calling task is governed and the socket was created outside the
// governed subtree (fail closed: an unreadable socket cgroup counts as
// outside).
static __always_inline int foreign_socket_of_governed(struct bpf_sock_addr *ctx)
{
	struct tg_config *c = gate_config();

	if (!c || bpf_get_current_ancestor_cgroup_id(c->governed_level) != c->governed_root_id)
		return 0;
	return sock_ancestor_cgroup_id(ctx, c->governed_level) != c->governed_root_id;
}

SEC("cgroup/connect4")
int tg_foreign_connect4(struct bpf_sock_addr *ctx)
{
	return foreign_socket_of_governed(ctx) ? check4(ctx, TG_HOOK_CONNECT4) : 1;
}

SEC("cgroup/connect6")
int tg_foreign_connect6(struct bpf_sock_addr *ctx)
{
	return foreign_socket_of_governed(ctx) ? check6(ctx, TG_HOOK_CONNECT6) : 1;
}

SEC("cgroup/sendmsg4")
int tg_foreign_sendmsg4(struct bpf_sock_addr *ctx)
{
	return foreign_socket_of_governed(ctx) ? check4(ctx, TG_HOOK_SENDMSG4) : 1;
}

SEC("cgroup/sendmsg6")
int tg_foreign_sendmsg6(struct bpf_sock_addr *ctx)
{
	return foreign_socket_of_governed(ctx) ? check6(ctx, TG_HOOK_SENDMSG6) : 1;
}

SEC("taogate/connect_unix")
int tg_foreign_connect_unix(struct bpf_sock_addr *ctx)
{
	return foreign_socket_of_governed(ctx) ? decide_unix(ctx, TG_HOOK_CONNECT_UNIX) : 1;
}

SEC("taogate/sendmsg_unix")
int tg_foreign_sendmsg_unix(struct bpf_sock_addr *ctx)
{
	return foreign_socket_of_governed(ctx) ? decide_unix(ctx, TG_HOOK_SENDMSG_UNIX) : 1;
}
