/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Kernel constants that vmlinux.h carries no macros for and that more than
 * one taogate BPF program needs (the cgroup gate's file fallback and the
 * BPF LSM). BPF side only; taogate's own formats are in gate_format.h.
 */
#ifndef TAOGATE_BPF_KERNEL_DEFS_BPF_H_
#define TAOGATE_BPF_KERNEL_DEFS_BPF_H_

#define FMODE_READ 0x1  /* file->f_mode */
#define FMODE_WRITE 0x2

#endif /* TAOGATE_BPF_KERNEL_DEFS_BPF_H_ */
