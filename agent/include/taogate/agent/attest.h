// Node attestation of a workload-socket caller: who it is, from the kernel
// (and, in pods mode, the API server), never from its request.
//
// Facts and where they come from:
//   pid, uid              SO_PEERCRED of the socket (PeerOfSocket)
//   cgroup, workload      /proc/<pid>/cgroup at call time (AgentServiceImpl::Peer):
//                         the governed workload cgroup, or the pod's cgroup
//   exe_path              readlink(/proc/<pid>/exe)
//   exe_sha256            SHA-256 of the file read through /proc/<pid>/exe
//                         (the very inode the process runs, even if the path
//                         was replaced), at most max_exe_bytes, cached by
//                         (dev, ino, mtime, size)
//   pod uid               k8s::ParsePodCgroup of the caller's cgroup (pods)
//   namespace, name,      the PodClassifier's API view of that uid (pods);
//   service account,      a pod the API does not know (yet) is not attested
//   labels
// The peer's pidfd (SO_PEERPIDFD) is taken at attestation and kept: after the
// exe is read it must still name a live process, and StillSame() (called
// again just before a TAO is redeemed for the caller) checks that the process
// is alive and that /proc/<pid>/exe still names the attested inode, so a
// process that exits (pid reused) or execs another binary between request and
// redeem gets nothing. Without SO_PEERPIDFD (kernel < 6.5) the pid is
// trusted as PeerOfSocket trusts it.
//
// Thread-safe: KernelAttester may be called from any number of threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/agent/peer.h"
#include "taogate/common/fd.h"
#include "taogate/k8s/objects.h"
#include "taogate/k8s/pod_cgroup.h"

namespace taogate::agent {

struct Attestation {
  PeerIdentity peer;       // what the Redeemer checks the TAO binding against
  v1::AttestedWorkload facts;  // what the governor is told (node id included)
  std::string workload;    // display identity: "pod:NS/NAME" or "cgroup:/path"
  // OK while the attested process still runs the attested executable;
  // FailedPrecondition otherwise. Never null.
  std::function<absl::Status()> still_same;
};

class Attester {
 public:
  virtual ~Attester() = default;
  // `peer` from AgentServiceImpl::Peer; `socket_fd` the caller's connection.
  virtual absl::StatusOr<Attestation> Attest(const PeerIdentity& peer, int socket_fd) = 0;
};

// The executable of a process, hashed. Stat keys the cache.
struct ExeFacts {
  std::string path;
  std::string sha256_hex;
  dev_t dev = 0;
  ino_t ino = 0;
};

// SHA-256 of executables by (dev, ino, mtime, size); bounded (cleared when
// max_entries is reached). Thread-safe.
class ExeHasher {
 public:
  explicit ExeHasher(uint64_t max_bytes = 256ull << 20, size_t max_entries = 1024)
      : max_bytes_(max_bytes), max_entries_(max_entries) {}
  // Reads /proc/<pid>/exe. FailedPrecondition if larger than max_bytes.
  absl::StatusOr<ExeFacts> Of(pid_t pid);
  uint64_t hashed() const;  // files actually read (cache misses)

 private:
  using Key = std::tuple<dev_t, ino_t, int64_t, int64_t>;
  const uint64_t max_bytes_;
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::map<Key, std::string> cache_;
  uint64_t hashed_ = 0;
};

// OK if `pidfd` (may be -1: not checked) names a live process and
// /proc/<pid>/exe is still (dev, ino). FailedPrecondition otherwise.
absl::Status CheckSameProcess(int pidfd, pid_t pid, dev_t dev, ino_t ino);

struct KernelAttesterOptions {
  std::string node_id;
  uint64_t max_exe_bytes = 256ull << 20;
  // Pods mode: kubelet's root and the API view of a pod uid.
  std::optional<k8s::KubepodsRoot> pods_root;
  std::function<std::optional<k8s::Pod>(const std::string& uid)> pod_of;
};

class KernelAttester final : public Attester {
 public:
  explicit KernelAttester(KernelAttesterOptions options)
      : options_(std::move(options)), hasher_(options_.max_exe_bytes) {}
  absl::StatusOr<Attestation> Attest(const PeerIdentity& peer, int socket_fd) override;
  const ExeHasher& hasher() const { return hasher_; }

 private:
  KernelAttesterOptions options_;
  ExeHasher hasher_;
};

}  // namespace taogate::agent
