// What kubelet put at a cgroup v2 path: which pod (by uid), which QoS class,
// which container. Pure string parsing, no filesystem access.
//
// Layouts (paths relative to the cgroup2 mount; <root> is kubelet's kubepods
// cgroup, `/kubepods.slice` or `/kubepods` by default, deeper with
// --cgroup-root):
//   systemd driver, root `/a.slice/a-kubepods.slice` (prefix P = `a-kubepods`):
//     Guaranteed  <root>/P-pod<uid_>.slice/<ctr>
//     Burstable   <root>/P-burstable.slice/P-burstable-pod<uid_>.slice/<ctr>
//     BestEffort  <root>/P-besteffort.slice/P-besteffort-pod<uid_>.slice/<ctr>
//     <uid_> is the uid with '-' escaped as '_'; <ctr> is
//     `cri-containerd-<id>.scope`, `crio-<id>.scope`, `crio-conmon-<id>.scope`
//     or `docker-<id>.scope`, <id> 64 lowercase hex.
//   cgroupfs driver:
//     <root>/pod<uid>/<ctr>, <root>/burstable/pod<uid>/<ctr>,
//     <root>/besteffort/pod<uid>/<ctr>; <ctr> is `<id>`, `crio-<id>` or
//     `crio-conmon-<id>`.
//
// Names are untrusted: a workload that may mkdir inside its own cgroup can make
// any name below its container. The pod is therefore decided ONLY by the
// component at the one level its QoS class allows (1 below the root for
// Guaranteed, 2 for the others); nothing deeper is ever read as a pod, and a
// name at that level that is not exactly a canonical pod name is an error,
// never another pod. Callers fail closed on errors (treat as governed).
//
// Known limit: static pods' cgroups carry kubelet's config-hash uid (32 hex,
// no dashes), not an API uid; they are refused as non-canonical.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace taogate::k8s {

enum class CgroupDriver { kSystemd, kCgroupfs };
enum class QosClass { kGuaranteed, kBurstable, kBestEffort };

// "Guaranteed", "Burstable", "BestEffort": the spelling of status.qosClass.
std::string_view QosClassName(QosClass qos);

// Kubelet's kubepods cgroup. Make it with KubepodsRoot::Parse.
class KubepodsRoot {
 public:
  // `path` is absolute, normalised (no "//", ".", "..", trailing '/'), not "/".
  // The driver is systemd iff the last component ends in ".slice" (it must
  // then be "<prefix>.slice" with a non-empty prefix); otherwise cgroupfs.
  static absl::StatusOr<KubepodsRoot> Parse(std::string_view path);

  const std::string& path() const { return path_; }
  CgroupDriver driver() const { return driver_; }
  // systemd only: the slice-name prefix of everything below ("kubepods").
  const std::string& prefix() const { return prefix_; }

 private:
  std::string path_;
  CgroupDriver driver_ = CgroupDriver::kCgroupfs;
  std::string prefix_;
};

struct PodCgroup {
  QosClass qos = QosClass::kGuaranteed;
  std::string pod_uid;   // canonical: lowercase 8-4-4-4-12 hex with dashes
  std::string pod_path;  // the pod-level cgroup, absolute like the input
  int pod_level = 0;     // components below the root: 1 Guaranteed, 2 others
  int depth = 0;         // components of the input below the pod cgroup
  // Set iff depth >= 1 and the first component below the pod is a container
  // name of the layout above; an unknown name there leaves both empty (the pod
  // is still the pod). A name with a runtime prefix but a bad id is an error.
  std::string runtime;       // "cri-containerd", "crio", "docker" or "" (cgroupfs <id>)
  std::string container_id;  // 64 lowercase hex
  bool conmon = false;       // crio-conmon-<id>: CRI-O's monitor, not the container
};

// nullopt: the root itself or a QoS cgroup (not a pod). Error
// (kInvalidArgument) for a path outside the root, not normalised, or with a
// component at a pod-deciding level that is not exactly what kubelet makes.
absl::StatusOr<std::optional<PodCgroup>> ParsePodCgroup(const KubepodsRoot& root,
                                                        std::string_view path);

// `uid` if it is canonical (lowercase 8-4-4-4-12 hex), else kInvalidArgument.
absl::Status ValidatePodUid(std::string_view uid);

}  // namespace taogate::k8s
