// SPDX-License-Identifier: GPL-2.0
// Unix-socket hooks (kernel 6.7+), included by gate.bpf.c.
//
// libbpf 1.1 does not know the cgroup/connect_unix section names, so these
// programs live in "taogate/..." sections; the loader sets their program type
// (CGROUP_SOCK_ADDR) and expected attach type (BPF_CGROUP_UNIX_CONNECT = 49,
// BPF_CGROUP_UNIX_SENDMSG = 50) before load, and skips them on kernels
// without those attach types.
//
// Matching is on the literal sun_path the caller passed. Pathname sockets are
// truncated at the first NUL (as the kernel does); relative pathnames cannot
// be matched against an absolute protected path, so they are denied for
// governed workloads whenever any unix target is protected (fail closed).
// So are non-canonical absolute spellings and /proc/ paths
// (unix_path_unmatchable). Aliases through symlinks, hard links or bind
// mounts are not seen here: the probe reports these hooks as degraded for
// that reason.

static __always_inline int read_sun_path(struct bpf_sock_addr *ctx, struct tg_unix_key *k)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);
	struct sockaddr *uaddr = sa->uaddr;
	__u32 len = sa->uaddrlen;
	int nul = 0;

	if (len <= 2)
		return -1; /* unnamed: autobind, nothing to match */
	len -= 2;
	if (len > TG_UNIX_PATH_MAX)
		len = TG_UNIX_PATH_MAX;
	if (bpf_probe_read_kernel(k->path, len, (char *)uaddr + 2))
		return -1;
	if (k->path[0] == 0)
		return 0; /* abstract: exact bytes, zero padded */
	for (int i = 0; i < TG_UNIX_PATH_MAX; i++) {
		if (k->path[i] == 0)
			nul = 1;
		if (nul)
			k->path[i] = 0;
	}
	return 0;
}

// An absolute pathname the literal match cannot stand for: a spelling with
// "//", "/./" or "/../" (or ending in "/." or "/..") that the kernel
// resolves to the same file as a canonical one, or anything under /proc/
// (/proc/<pid>/root/..., /proc/self/cwd/..., /proc/self/fd/N of an O_PATH
// fd of the socket). Denied like relative paths while unix targets are
// protected. Symlinks, hard links and bind mounts still are not seen.
static __always_inline int unix_path_unmatchable(const struct tg_unix_key *k)
{
	__u32 state = 0; /* 0: just after '/', 1: after "/.", 2: after "/..", 3: in a name */
	char ch;

	if (k->path[0] != '/')
		return 0;
	if (k->path[1] == 'p' && k->path[2] == 'r' && k->path[3] == 'o' && k->path[4] == 'c' &&
	    (k->path[5] == '/' || k->path[5] == 0))
		return 1;
	for (int i = 1; i < TG_UNIX_PATH_MAX; i++) {
		ch = k->path[i];
		if (ch == '/' || ch == 0) {
			if (state == 1 || state == 2 || (ch == '/' && state == 0))
				return 1;
			if (ch == 0)
				return 0;
			state = 0;
		} else if (ch == '.' && state < 3) {
			state++;
		} else {
			state = 3;
		}
	}
	return state == 1 || state == 2;
}

static __always_inline int decide_unix(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct tg_config *c = gate_config();
	struct decision d = { .hook = hook, .family = AF_UNIX };
	struct tg_unix_grant_key gk = {};
	struct tg_target_val *t;
	int named, resolved = 0;
	__u32 kind = 0;

	if (!c)
		return 0;
	named = read_sun_path(ctx, &gk.path) == 0;
	if (named)
		__builtin_memcpy(d.addr, gk.path.path, sizeof(d.addr));
	// Resolved lazily, as for IP (decide_ip).
	if (c->quarantine_all || c->quarantine_armed) {
		if (!resolve_current(c, &d.cgroup_id))
			return 1;
		resolved = 1;
		if (quarantine_of(c, d.cgroup_id)) {
			d.verdict = TG_DENY_QUARANTINE;
			return finish(&d);
		}
	}
	if (!named)
		return 1;
	t = bpf_map_lookup_elem(&tg_unix_targets, &gk.path);
	if (t)
		kind = t->kind;
	else if (gk.path.path[0] != 0 && c->mode == TG_MODE_PROTECT_LISTED && c->unix_protected &&
		 (gk.path.path[0] != '/' || unix_path_unmatchable(&gk.path)))
		kind = TG_TARGET_PROTECT; /* relative or non-canonical: cannot be matched */
	if (!needs_grant(c, kind))
		return 1;
	if (!resolved && !resolve_current(c, &d.cgroup_id))
		return 1;
	count(TG_CNT_CHECKED);
	gk.cgroup_id = d.cgroup_id;
	if (audited(c, kind, d.cgroup_id))
		return finish_audit(&d, &tg_unix_grants, &gk);
	d.verdict = consume_grant(&tg_unix_grants, &gk, d.cgroup_id, d.tao_id);
	return finish(&d);
}

SEC("taogate/connect_unix")
int tg_connect_unix(struct bpf_sock_addr *ctx)
{
	return decide_unix(ctx, TG_HOOK_CONNECT_UNIX);
}

SEC("taogate/sendmsg_unix")
int tg_sendmsg_unix(struct bpf_sock_addr *ctx)
{
	return decide_unix(ctx, TG_HOOK_SENDMSG_UNIX);
}
