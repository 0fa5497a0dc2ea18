#include "taogate/agent/peer.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "taogate/common/fd.h"
#include "taogate/common/path.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace taogate::agent {
namespace {

// The cgroup v2 line of /proc/<pid>/cgroup is "0::<path>".
absl::StatusOr<std::string> CgroupV2PathOfPid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  if (!in) return absl::NotFoundError(StrCat("peer pid ", pid, " has no /proc entry"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return absl::NotFoundError(StrCat("peer pid ", pid, " has no cgroup v2 membership"));
}

}  // namespace

int FdFromGrpcPeer(const std::string& peer) {
  if (peer.rfind("fd:", 0) != 0) return -1;
  int fd = 0;
  for (size_t i = 3; i < peer.size(); ++i) {
    if (peer[i] < '0' || peer[i] > '9' || fd > 1'000'000) return -1;
    fd = fd * 10 + (peer[i] - '0');
  }
  return peer.size() > 3 ? fd : -1;
}

absl::StatusOr<uint64_t> CgroupIdOfPath(const std::string& abs_path) {
  struct stat st {};
  if (stat(abs_path.c_str(), &st) != 0) return ErrnoStatus(errno, StrCat("stat ", abs_path));
  return static_cast<uint64_t>(st.st_ino);
}

std::string WorkloadCgroupPath(const std::string& path, const std::string& root) {
  std::string base = root == "/" ? "" : root;
  if (path.size() <= base.size() + 1 || !PathUnder(path, root) || path == root) return {};
  size_t slash = path.find('/', base.size() + 1);
  return slash == std::string::npos ? path : path.substr(0, slash);
}

absl::Status ResolveWorkload(PeerIdentity& p, const std::string& cgroup2_mount, const std::string& governed_root,
                             const std::optional<k8s::KubepodsRoot>& pods_root) {
  std::string w;
  if (pods_root) {
    auto pod = k8s::ParsePodCgroup(*pods_root, p.cgroup_path);
    if (pod.ok() && *pod) w = (*pod)->pod_path;
  } else {
    w = WorkloadCgroupPath(p.cgroup_path, governed_root);
  }
  p.workload_cgroup_path = w;
  p.workload_cgroup_id = 0;
  if (w.empty()) return absl::OkStatus();
  if (w == p.cgroup_path) {
    p.workload_cgroup_id = p.cgroup_id;
    return absl::OkStatus();
  }
  TG_ASSIGN_OR_RETURN(p.workload_cgroup_id, CgroupIdOfPath(cgroup2_mount + w));
  return absl::OkStatus();
}

absl::StatusOr<PeerIdentity> PeerOfSocket(int fd, const std::string& cgroup2_mount) {
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return ErrnoStatus(errno, "getsockopt(SO_PEERCRED)");
  if (cred.pid <= 0) return absl::PermissionDeniedError("peer has no pid (other pid namespace?)");
  int raw_pidfd = -1;
  len = sizeof(raw_pidfd);
  UniqueFd pidfd;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &raw_pidfd, &len) == 0) pidfd.Reset(raw_pidfd);

  PeerIdentity p;
  p.pid = cred.pid;
  p.uid = cred.uid;
  p.gid = cred.gid;
  TG_ASSIGN_OR_RETURN(p.cgroup_path, CgroupV2PathOfPid(cred.pid));
  // The pid must still be the connecting process after we read its cgroup.
  if (pidfd.valid() && syscall(SYS_pidfd_send_signal, pidfd.get(), 0, nullptr, 0) != 0)
    return absl::PermissionDeniedError("peer process exited during identification");
  std::string abs = cgroup2_mount + (p.cgroup_path == "/" ? "" : p.cgroup_path);
  TG_ASSIGN_OR_RETURN(p.cgroup_id, CgroupIdOfPath(abs));
  return p;
}

}  // namespace taogate::agent
