// Builders for the BPF map keys of files and cgroups (formats in
// taogate/bpf/gate_format.h). Pure
// functions, no kernel access except stat(); safe from any thread.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/bpf/gate_format.h"

namespace taogate::bpflsm {

// The kernel's s_dev encoding of a stat() st_dev: (major << 20) | minor.
uint64_t KernelDev(dev_t st_dev);

// Inode key of `path` (follows symlinks: the rule is on the file itself).
absl::StatusOr<bpf::tg_inode_key> MakeInodeKey(std::string_view path);

// cgroup v2 id (inode number) and depth of a cgroup directory, e.g.
// "/sys/fs/cgroup/unified/a/b" under mount "/sys/fs/cgroup/unified" -> level 2.
struct CgroupRef {
  uint64_t id = 0;
  uint32_t level = 0;
};
absl::StatusOr<CgroupRef> ResolveCgroup(std::string_view mount, std::string_view cgroup_dir);

// The cgroup v2 mount point, from /proc/self/mountinfo.
absl::StatusOr<std::string> FindCgroup2Mount();

}  // namespace taogate::bpflsm
