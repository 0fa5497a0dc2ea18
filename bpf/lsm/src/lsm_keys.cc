#include "taogate/bpflsm/lsm_keys.h"

#include <sys/sysmacros.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "taogate/common/status.h"

namespace taogate::bpflsm {

uint64_t KernelDev(dev_t st_dev) {
  return (static_cast<uint64_t>(major(st_dev)) << 20) | minor(st_dev);
}

absl::StatusOr<bpf::tg_inode_key> MakeInodeKey(std::string_view path) {
  std::string p(path);
  struct stat st;
  if (stat(p.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + p);
  bpf::tg_inode_key key;
  key.dev = KernelDev(st.st_dev);
  key.ino = st.st_ino;
  return key;
}

absl::StatusOr<CgroupRef> ResolveCgroup(std::string_view mount, std::string_view cgroup_dir) {
  std::string m(mount), d(cgroup_dir);
  while (m.size() > 1 && m.back() == '/') m.pop_back();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  if (d.compare(0, m.size(), m) != 0 || (d.size() > m.size() && d[m.size()] != '/')) {
    return absl::InvalidArgumentError(d + " is not under the cgroup mount " + m);
  }
  struct stat st;
  if (stat(d.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + d);
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(d + " is not a cgroup directory");
  CgroupRef ref;
  ref.id = st.st_ino;
  for (size_t i = m.size(); i < d.size(); ++i) {
    if (d[i] == '/' && i + 1 < d.size()) ++ref.level;
  }
  return ref;
}

absl::StatusOr<std::string> FindCgroup2Mount() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return absl::FailedPreconditionError("cannot read /proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "id parent maj:min root mountpoint opts [optional...] - fstype source super"
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mountpoint;
    head >> id >> parent >> devno >> root >> mountpoint;
    return mountpoint;
  }
  return absl::NotFoundError("no cgroup2 mount in /proc/self/mountinfo");
}

}  // namespace taogate::bpflsm
