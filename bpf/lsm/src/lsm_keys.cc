#include "taogate/bpflsm/lsm_keys.h"

#include <arpa/inet.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "taogate/common/status.h"

namespace taogate::bpflsm {

absl::StatusOr<bpf::tg_lsm_target_key> MakeInetTarget(uint8_t proto, std::string_view addr,
                                                   uint16_t port) {
  if (proto != TG_PROTO_TCP && proto != TG_PROTO_UDP) {
    return absl::InvalidArgumentError("inet target proto must be TCP (6) or UDP (17)");
  }
  bpf::tg_lsm_target_key key;
  std::memset(&key, 0, sizeof(key));
  key.proto = proto;
  key.port = port;
  std::string a(addr);
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, a.c_str(), &v4) == 1) {
    key.addr[10] = 0xff;
    key.addr[11] = 0xff;
    std::memcpy(&key.addr[12], &v4, 4);
  } else if (inet_pton(AF_INET6, a.c_str(), &v6) == 1) {
    std::memcpy(key.addr, &v6, 16);  // v4-mapped stays v4-mapped: same key
  } else {
    return absl::InvalidArgumentError("not a numeric IPv4/IPv6 address: " + a);
  }
  return key;
}

absl::StatusOr<bpf::tg_lsm_target_key> MakeUnixTarget(std::string_view path) {
  std::string p(path);
  struct stat st;
  if (stat(p.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + p);
  if (!S_ISSOCK(st.st_mode)) return absl::InvalidArgumentError(p + " is not a socket");
  bpf::tg_lsm_target_key key;
  std::memset(&key, 0, sizeof(key));
  key.proto = TG_PROTO_UNIX;
  uint64_t dev = KernelDev(st.st_dev), ino = st.st_ino;
  std::memcpy(&key.addr[0], &dev, 8);
  std::memcpy(&key.addr[8], &ino, 8);
  return key;
}

absl::StatusOr<bpf::tg_lsm_grant_key> MakeGrantKey(uint64_t cgroup_id,
                                               const bpf::tg_lsm_target_key& target) {
  if (cgroup_id == 0) return absl::InvalidArgumentError("grant needs a cgroup id");
  if (target.proto != TG_PROTO_UNIX && target.port == 0) {
    return absl::InvalidArgumentError("grant needs an exact port");
  }
  bpf::tg_lsm_grant_key key;
  std::memset(&key, 0, sizeof(key));
  key.cgroup_id = cgroup_id;
  key.proto = target.proto;
  key.port = target.port;
  static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (target.proto == TG_PROTO_UNIX) {
    key.family = TG_AF_UNIX;
    std::memcpy(key.addr, target.addr, sizeof(key.addr));
  } else if (std::memcmp(target.addr, kV4MappedPrefix, sizeof(kV4MappedPrefix)) == 0) {
    key.family = TG_AF_INET;  // like the cgroup gate: addr[0..3], rest 0
    std::memcpy(key.addr, &target.addr[12], 4);
  } else {
    key.family = TG_AF_INET6;
    std::memcpy(key.addr, target.addr, sizeof(key.addr));
  }
  return key;
}

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
