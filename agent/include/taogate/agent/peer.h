// Who is calling: the peer of a unix-socket connection, resolved to its
// cgroup at call time.
//
// The pid comes from SO_PEERCRED; where the kernel has SO_PEERPIDFD (6.5+)
// the pid is pinned with a pidfd and re-checked after /proc/<pid>/cgroup is
// read, so a peer that exits and has its pid reused cannot lend its cgroup to
// another process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/k8s/pod_cgroup.h"

namespace taogate::agent {

struct PeerIdentity {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string cgroup_path;  // as in /proc/<pid>/cgroup ("/taogate/w1"), relative to the cgroup2 root
  uint64_t cgroup_id = 0;   // inode number of the cgroup directory (= bpf_get_current_cgroup_id)
  // Id of the ancestor that is a direct child of the governed root (what the
  // kernel gate keys grants and quarantine on); 0 when not governed.
  uint64_t workload_cgroup_id = 0;
  // Its path (the pod's cgroup in pods mode); empty when not governed.
  std::string workload_cgroup_path = {};
};

// Resolves the peer of connected unix socket `fd`. `cgroup2_mount` is the
// cgroup v2 mount point (e.g. /sys/fs/cgroup/unified).
absl::StatusOr<PeerIdentity> PeerOfSocket(int fd, const std::string& cgroup2_mount);

// gRPC names connections added with AddInsecureChannelFromFd "fd:N"; returns N
// or -1.
int FdFromGrpcPeer(const std::string& peer);

// cgroup id (inode) of a cgroup v2 directory.
absl::StatusOr<uint64_t> CgroupIdOfPath(const std::string& abs_path);

// "/gov/w1/c2" under "/gov" -> "/gov/w1"; empty unless strictly below root.
// (Whether a path is within another: taogate::PathUnder, common/path.h.)
std::string WorkloadCgroupPath(const std::string& path, const std::string& root);

// Fills p.workload_cgroup_path and _id from p.cgroup_path: the child of
// `governed_root` it lies in or, in pods mode (`pods_root` set), its pod's
// cgroup, decided by level only (k8s/pod_cgroup.h). Left empty (0) when the
// peer is in no workload (the root itself, a QoS cgroup, elsewhere).
absl::Status ResolveWorkload(PeerIdentity& p, const std::string& cgroup2_mount, const std::string& governed_root,
                             const std::optional<k8s::KubepodsRoot>& pods_root);

}  // namespace taogate::agent
