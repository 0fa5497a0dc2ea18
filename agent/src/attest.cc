#include "taogate/agent/attest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace taogate::agent {
namespace {

std::string ExeLink(pid_t pid) { return StrCat("/proc/", pid, "/exe"); }

bool Alive(int pidfd) { return syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; }

}  // namespace

absl::StatusOr<ExeFacts> ExeHasher::Of(pid_t pid) {
  const std::string link = ExeLink(pid);
  ExeFacts f;
  char buf[4096];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n <= 0 || n == static_cast<ssize_t>(sizeof(buf)))
    return absl::FailedPreconditionError(StrCat("peer pid ", pid, ": cannot read its executable link"));
  f.path.assign(buf, n);
  // Opening the link opens the inode the process runs, whatever the path
  // names now.
  UniqueFd fd(open(link.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, StrCat("open ", link));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, StrCat("fstat ", link));
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError("peer executable is not a regular file");
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  const Key key{st.st_dev, st.st_ino, static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                static_cast<int64_t>(st.st_size)};
  {
    std::lock_guard l(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      f.sha256_hex = it->second;
      return f;
    }
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes_)
    return absl::FailedPreconditionError(
        StrCat("peer executable ", f.path, " is larger than ", max_bytes_, " bytes; not hashed"));
  crypto::Sha256Hasher h;
  auto chunk = std::make_unique<uint8_t[]>(1 << 16);
  uint64_t total = 0;
  while (true) {
    ssize_t r = read(fd.get(), chunk.get(), 1 << 16);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus(errno, StrCat("read ", link));
    if (r == 0) break;
    total += static_cast<uint64_t>(r);
    if (total > max_bytes_) return absl::FailedPreconditionError("peer executable grew while hashed");
    h.Update(std::span<const uint8_t>(chunk.get(), static_cast<size_t>(r)));
  }
  // Modified while read: the digest may mix two contents; do not cache it.
  struct stat after {};
  if (fstat(fd.get(), &after) != 0 || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
      after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || after.st_size != st.st_size)
    return absl::FailedPreconditionError(StrCat("peer executable ", f.path, " changed while hashed"));
  f.sha256_hex = ToHex(h.Finish());
  std::lock_guard l(mu_);
  if (cache_.size() >= max_entries_) cache_.clear();
  cache_.emplace(key, f.sha256_hex);
  ++hashed_;
  return f;
}

uint64_t ExeHasher::hashed() const {
  std::lock_guard l(mu_);
  return hashed_;
}

absl::Status CheckSameProcess(int pidfd, pid_t pid, dev_t dev, ino_t ino) {
  struct stat st {};
  if (stat(ExeLink(pid).c_str(), &st) != 0)
    return absl::FailedPreconditionError(StrCat("attested process ", pid, " is gone"));
  if (st.st_dev != dev || st.st_ino != ino)
    return absl::FailedPreconditionError(
        StrCat("attested process ", pid, " now runs another executable (exec after attestation)"));
  // After the stat: a pid reused between the two would otherwise pass.
  if (pidfd >= 0 && !Alive(pidfd))
    return absl::FailedPreconditionError(StrCat("attested process ", pid, " exited (pid may be reused)"));
  return absl::OkStatus();
}

absl::StatusOr<Attestation> KernelAttester::Attest(const PeerIdentity& peer, int socket_fd) {
  if (peer.workload_cgroup_id == 0 || peer.workload_cgroup_path.empty())
    return absl::PermissionDeniedError(StrCat("caller cgroup ", peer.cgroup_path, " is not a governed workload"));
  std::shared_ptr<UniqueFd> pidfd = std::make_shared<UniqueFd>();
  int raw = -1;
  socklen_t len = sizeof(raw);
  if (getsockopt(socket_fd, SOL_SOCKET, SO_PEERPIDFD, &raw, &len) == 0) pidfd->Reset(raw);

  TG_ASSIGN_OR_RETURN(ExeFacts exe, hasher_.Of(peer.pid));
  TG_RETURN_IF_ERROR(CheckSameProcess(pidfd->get(), peer.pid, exe.dev, exe.ino));

  Attestation a;
  a.peer = peer;
  v1::AttestedWorkload& f = a.facts;
  f.set_node_id(options_.node_id);
  f.set_cgroup_id(peer.workload_cgroup_id);
  f.set_cgroup_path(peer.workload_cgroup_path);
  f.set_exe_path(exe.path);
  f.set_exe_sha256(exe.sha256_hex);
  f.set_uid(peer.uid);
  f.set_pid(static_cast<uint32_t>(peer.pid));
  a.workload = StrCat("cgroup:", peer.workload_cgroup_path);
  if (options_.pods_root) {
    auto pc = k8s::ParsePodCgroup(*options_.pods_root, peer.cgroup_path);
    if (!pc.ok() || !*pc) return absl::PermissionDeniedError(StrCat("caller cgroup ", peer.cgroup_path, " is not a pod's"));
    std::optional<k8s::Pod> pod = options_.pod_of ? options_.pod_of((*pc)->pod_uid) : std::nullopt;
    if (!pod)
      return absl::UnavailableError(StrCat("pod ", (*pc)->pod_uid, " is not known to the API server (yet)"));
    f.set_pod_uid(pod->uid);
    f.set_namespace_(pod->namespace_name);
    f.set_pod_name(pod->name);
    f.set_service_account(pod->service_account);
    for (const auto& [k, v] : pod->labels) (*f.mutable_pod_labels())[k] = v;
    a.workload = StrCat("pod:", pod->namespace_name, "/", pod->name);
  }
  const pid_t pid = peer.pid;
  const dev_t dev = exe.dev;
  const ino_t ino = exe.ino;
  a.still_same = [pidfd, pid, dev, ino] { return CheckSameProcess(pidfd->get(), pid, dev, ino); };
  return a;
}

}  // namespace taogate::agent
