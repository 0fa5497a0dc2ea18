// Builders for the BPF LSM map keys (formats in bpf/lsm/lsm_gate.h). Pure
// functions, no kernel access except stat(); safe from any thread.
#pragma once

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "lsm_gate.h"

namespace taogate::bpflsm {

using TaoId = std::array<uint8_t, 16>;

// A network target: proto TG_PROTO_TCP/UDP, a numeric IPv4 or IPv6 address
// ("10.0.0.5", "::1", "::ffff:10.0.0.5"), port in host order (0 in a
// protected target = every port). IPv4 is encoded v4-mapped.
absl::StatusOr<bpf::tg_lsm_target_key> MakeInetTarget(uint8_t proto, std::string_view addr,
                                                   uint16_t port);

// A unix stream socket target: the inode of the socket file at `path`.
absl::StatusOr<bpf::tg_lsm_target_key> MakeUnixTarget(std::string_view path);

// Grant key for `target` (exact port, never 0) bound to governed cgroup;
// IPv4 / v4-mapped targets become family TG_AF_INET with addr[0..3], the
// cgroup gate's encoding (lsm_gate.h).
absl::StatusOr<bpf::tg_lsm_grant_key> MakeGrantKey(uint64_t cgroup_id,
                                               const bpf::tg_lsm_target_key& target);

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
