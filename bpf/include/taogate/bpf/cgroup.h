// cgroup v2 helpers for the gate, `taogatectl run` and tests: find the
// cgroup2 mount, create/remove cgroups, move processes, resolve cgroup ids.
//
// Paths are absolute filesystem paths (e.g. /sys/fs/cgroup/unified/pod1).
// "Level" is the kernel's cgroup level: the hierarchy root is level 0, and
// bpf_get_current_ancestor_cgroup_id(level) returns the ancestor at it.
// All functions are thread-safe (no shared state).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "taogate/common/status.h"

namespace taogate::bpf {

// Mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo.
absl::StatusOr<std::string> Cgroup2Mount();

// The kernel cgroup id (what bpf_get_current_cgroup_id returns) of `path`.
absl::StatusOr<uint64_t> CgroupId(const std::string& path);

// Level of `path` in the hierarchy (accounts for the mount's root).
absl::StatusOr<uint32_t> CgroupLevel(const std::string& path);

// Absolute path of pid's cgroup v2 (from /proc/<pid>/cgroup).
absl::StatusOr<std::string> CgroupPathOfPid(pid_t pid);

// The workload cgroup of `pid`: the ancestor of its cgroup that is a direct
// child of `governed_root`. NotFound if pid is not strictly below it.
absl::StatusOr<std::string> WorkloadCgroupOfPid(pid_t pid, const std::string& governed_root);

// mkdir; AlreadyExists is OK.
absl::Status CreateCgroup(const std::string& path);

// Writes pid to <path>/cgroup.procs (pid 0: the calling process).
absl::Status MoveToCgroup(pid_t pid, const std::string& path);

// Kills every process in the subtree (cgroup.kill), waits for it to empty
// (bounded) and removes the subtree bottom-up. NotFound-tolerant.
absl::Status DestroyCgroupTree(const std::string& path);

// Owns a cgroup created for a test or `taogatectl run`: destroys the subtree
// (killing its processes) on destruction. Move-only.
class ScopedCgroup {
 public:
  ScopedCgroup() = default;
  static absl::StatusOr<ScopedCgroup> Create(const std::string& path);
  ScopedCgroup(ScopedCgroup&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ScopedCgroup& operator=(ScopedCgroup&& o) noexcept;
  ScopedCgroup(const ScopedCgroup&) = delete;
  ScopedCgroup& operator=(const ScopedCgroup&) = delete;
  ~ScopedCgroup();

  const std::string& path() const { return path_; }
  // Stops owning the cgroup (it is left in place).
  std::string Release() { return std::exchange(path_, std::string()); }

 private:
  explicit ScopedCgroup(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace taogate::bpf
