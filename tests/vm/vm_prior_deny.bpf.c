// SPDX-License-Identifier: GPL-2.0
// Test-only BPF LSM program, loaded only inside the VM after taogate's own
// programs: it denies opening one inode with -EACCES, so the VM test can
// check that taogate's file_open returns an earlier denial unchanged (it
// must neither turn it into 0 nor into its own -EPERM).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EACCES 13

__u64 deny_ino = 0;

SEC("lsm/file_open")
int BPF_PROG(vm_prior_deny, struct file *file, int ret)
{
	if (ret != 0)
		return ret;
	if (deny_ino && BPF_CORE_READ(file, f_inode, i_ino) == deny_ino)
		return -EACCES;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
