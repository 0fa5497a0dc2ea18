// SPDX-License-Identifier: GPL-2.0
// The smallest program that proves the BPF build rule (clang -target bpf,
// CO-RE vmlinux.h, bpftool skeleton): a cgroup/sock_create program that
// allows everything and counts calls. It is never attached by the agent.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 sock_create_calls = 0;

SEC("cgroup/sock_create")
int tg_hello_sock_create(struct bpf_sock *sk)
{
	__sync_fetch_and_add(&sock_create_calls, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
