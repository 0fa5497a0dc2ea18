// Pods mode: which cgroups below kubelet's kubepods root are governed
// workloads, decided from the Kubernetes API and the policy bundle, and kept
// in the kernel gate's workload map (bpf::Gate::SetWorkload; gate_format.h
// tg_workloads).
//
// Inputs, each thread-safe and serialized by one lock:
//   - the API server's view (a k8s::StoreListener: pods of this node and all
//     namespaces, as the reflectors deliver them);
//   - the bundle's governed-pod selectors (SetSelectors, from TargetSync);
//   - the cgroup tree (CgroupAppeared / CgroupGone, from CgroupTreeWatch).
// Output: one workload-map entry per pod cgroup and per QoS cgroup:
//   QoS cgroup (kubepods-burstable.slice, burstable, ...)      -> kNested
//   pod cgroup, pod and namespace known, a selector governs it  -> kGoverned
//   pod cgroup, pod and namespace known, no selector governs it -> kUngoverned
//   anything else below the root (pod not in the API yet, name that is not
//   kubelet's, no bundle yet)                                   -> kGoverned
// The kernel treats a cgroup with no entry as governed too, so the window
// between mkdir and classification is closed (fail closed); this class only
// ever opens a pod by writing kUngoverned for it.
//
// What the pod says about itself never counts: the verdict is a function of
// the API objects and the selectors, re-evaluated on every pod or namespace
// update, selector change and relist. The agent's own pod is the one
// exception: it is always ungoverned (the agent must reach the governor and
// the API server), and that is decided from the agent's own cgroup.
//
// Restart without a gap: Start() reads the entries a previous agent pinned
// and the live cgroup tree; entries of cgroups that no longer exist are
// forgotten (with their grants and quarantine), live ones are kept unchanged
// until the pod list, the namespace list and the selectors are all known,
// then everything is re-decided. Until then a NEW pod cgroup is governed.
//
// Pod lifecycle: when the API deletes a pod, the workload's grants,
// quarantine and map entry are removed (bpf::Gate::ForgetWorkload) and a
// WORKLOAD record says so; if its cgroup is still there it is governed again
// (fail closed) until it goes. Every verdict change is a WORKLOAD record
// (fields: event, verdict, pod_uid, workload "namespace/name", cgroup_id,
// count = entries removed).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/agent/deps.h"
#include "taogate/k8s/pod_cgroup.h"
#include "taogate/k8s/selector.h"
#include "taogate/k8s/store.h"

namespace taogate::agent {

enum class WorkloadVerdict : uint32_t { kGoverned = 1, kUngoverned = 2, kNested = 3 };

// The kernel's workload map (bpf::Gate in production). Thread-safe.
class WorkloadMap {
 public:
  virtual ~WorkloadMap() = default;
  virtual absl::Status Set(uint64_t cgroup_id, WorkloadVerdict verdict) = 0;
  // Removes the entry and every grant and quarantine keyed on the workload;
  // returns how many entries went (0 if there were none).
  virtual absl::StatusOr<size_t> Forget(uint64_t cgroup_id) = 0;
  virtual absl::StatusOr<std::map<uint64_t, WorkloadVerdict>> List() const = 0;
  // The per-workload kill switch (kill: also SIGKILL on the next syscall).
  virtual absl::Status Quarantine(uint64_t cgroup_id, bool kill) = 0;
  virtual absl::Status Release(uint64_t cgroup_id) = 0;
  // Audit mode for the whole workload (tg_audit; Forget ends it too).
  virtual absl::Status SetAudit(uint64_t cgroup_id, bool on) = 0;
  virtual absl::StatusOr<std::vector<uint64_t>> Audited() const = 0;
};

// One workload cgroup in audit mode (audit_workloads.h), for status.
struct AuditedWorkload {
  uint64_t cgroup_id = 0;
  std::string path;  // relative to the cgroup2 mount
  std::string rule;  // the bundle workload id that audits it ("(pinned)": a previous agent's)
};

// A kill-switch scope over pods, as operators and the governor name it:
//   "pod:NAMESPACE/NAME"   one pod
//   "namespace:NAMESPACE"  every pod of the namespace
//   "selector:SEL"         every pod whose labels match SEL, a comma-separated
//                          list of key=value, key!=value, key, !key (all must
//                          hold; the kubectl equality/existence syntax)
// Matching uses the API server's objects only.
struct PodScope {
  std::string label;  // the text above, canonical
  std::string namespace_name;
  std::string pod_name;                      // "pod:" only
  std::optional<k8s::LabelSelector> labels;  // "selector:" only
  bool Matches(const k8s::Pod& pod) const;
};
// kInvalidArgument for anything else (the caller then tries other forms).
absl::StatusOr<PodScope> ParsePodScope(std::string_view text);
// True if `text` starts with one of the prefixes above.
bool IsPodScope(std::string_view text);

// A cgroup directory below the root: its path relative to the cgroup2 mount
// ("/kubepods.slice/kubepods-pod<uid_>.slice") and its id (inode number).
struct CgroupDir {
  std::string path;
  uint64_t id = 0;
};

struct PodCounts {
  uint64_t governed = 0;      // pod cgroups marked governed (known and selected)
  uint64_t ungoverned = 0;    // pod cgroups marked ungoverned
  uint64_t unclassified = 0;  // cgroups governed because nothing is known of them
  uint64_t changes_total = 0;       // verdicts written to the kernel
  uint64_t removed_total = 0;       // workloads forgotten (pod deleted / cgroup gone)
  uint64_t kernel_errors_total = 0; // map writes that failed (the old entry stays)
  bool decided = false;             // selectors, pods and namespaces all known
};

class PodClassifier final : public k8s::StoreListener {
 public:
  // self_cgroup: the agent's own cgroup path (from /proc/self/cgroup).
  PodClassifier(k8s::KubepodsRoot root, std::string self_cgroup, WorkloadMap& kernel,
                Evidence& evidence);

  // Reconciles the pinned map with the live tree (see above). `tree` is every
  // cgroup directory at the pod levels (1 and 2 below the root).
  absl::Status Start(const std::vector<CgroupDir>& tree);

  // The bundle's selectors (an empty list governs no pod). The first call
  // makes the selectors known.
  void SetSelectors(std::vector<k8s::PodSelector> selectors);
  // The bundle's audited workloads (ProtectedTargets.audit_workloads,
  // validated): a governed pod cgroup one of them matches (node_id, its
  // path, the pod's namespace, service account and labels) is audited
  // (WorkloadMap::SetAudit), re-decided with every verdict.
  void SetAuditWorkloads(std::vector<v1::HoldWorkload> workloads, std::string node_id);

  void CgroupAppeared(const CgroupDir& dir);
  void CgroupGone(const std::string& path);
  // After a full rescan: every known cgroup not in `tree` is gone.
  void Retain(const std::vector<CgroupDir>& tree);

  // k8s::StoreListener
  void OnPodAdded(const k8s::Pod& pod) override;
  void OnPodUpdated(const k8s::Pod& old_pod, const k8s::Pod& pod) override;
  void OnPodDeleted(const k8s::Pod& pod) override;
  void OnNamespaceAdded(const k8s::Namespace& ns) override;
  void OnNamespaceUpdated(const k8s::Namespace& old_ns, const k8s::Namespace& ns) override;
  void OnNamespaceDeleted(const k8s::Namespace& ns) override;
  void OnSynced(k8s::Resource resource) override;

  // Kill switch over a pod scope: quarantines every pod cgroup it matches now
  // and, while engaged, every pod that comes to match it (a new pod in the
  // namespace, a relabel). Returns how many pod cgroups it matches now.
  // Engaging an engaged scope again replaces its mode. Release lifts it from
  // the pods no other engaged scope matches; NotFound if not engaged.
  absl::StatusOr<size_t> EngageScope(const PodScope& scope, bool kill);
  absl::StatusOr<size_t> ReleaseScope(const std::string& label);
  std::vector<std::string> EngagedScopes() const;

  // The verdict the kernel holds for a cgroup id (nullopt: no entry).
  std::optional<WorkloadVerdict> VerdictOf(uint64_t cgroup_id) const;
  // The pod (namespace/name) of a pod uid, if the API has it.
  std::optional<k8s::Pod> PodOf(const std::string& uid) const;
  // Pod cgroups the kernel holds as governed.
  std::vector<uint64_t> GovernedCgroups() const;
  std::vector<AuditedWorkload> AuditedWorkloads() const;
  PodCounts counts() const;

 private:
  struct Dir {
    std::string path;
    std::optional<std::string> pod_uid;  // nullopt: a QoS cgroup or an unknown name
    bool qos = false;
    std::optional<WorkloadVerdict> written;  // what the kernel holds
    std::string audit_rule;                  // non-empty: the kernel audits it
  };

  // With mu_ held.
  WorkloadVerdict DesiredLocked(const Dir& d) const;
  void DecideLocked(uint64_t id, Dir& d, std::string_view why);
  void DecidePodLocked(const std::string& uid, std::string_view why);
  void DecideAllLocked(std::string_view why);
  void AuditLocked(uint64_t id, Dir& d);
  void ForgetLocked(uint64_t id, const Dir& d, std::string_view event);
  void AddDirLocked(const CgroupDir& dir);
  void DropUidLocked(uint64_t id, const Dir& d);
  void RecordLocked(std::string_view event, const Dir& d, uint64_t id, size_t removed);
  // Quarantines the pod's cgroup if an engaged scope matches it (and it is
  // not quarantined by one yet).
  void ApplyScopesLocked(const std::string& uid);
  bool DecidedLocked() const { return selectors_known_ && pods_synced_ && namespaces_synced_; }

  const k8s::KubepodsRoot root_;
  const std::optional<std::string> self_pod_uid_;  // the agent's own pod, never governed
  WorkloadMap& kernel_;
  Evidence& evidence_;

  mutable std::mutex mu_;
  std::map<uint64_t, Dir> dirs_;                   // by cgroup id
  std::map<std::string, uint64_t> by_uid_;         // pod uid -> pod cgroup id
  std::map<std::string, k8s::Pod> pods_;           // by uid (the API's view)
  std::map<std::string, k8s::Namespace> namespaces_;
  std::vector<k8s::PodSelector> selectors_;
  std::vector<v1::HoldWorkload> audit_workloads_;
  std::string node_id_;
  struct Engaged {
    PodScope scope;
    bool kill = false;
  };
  std::map<std::string, Engaged> scopes_;     // by label
  std::map<uint64_t, bool> scope_quarantined_;  // pod cgroup id -> kill, quarantined by a scope
  bool selectors_known_ = false, pods_synced_ = false, namespaces_synced_ = false;
  PodCounts counts_;
};

// Every cgroup directory 1 and 2 levels below `root_abs` (an absolute path
// under the cgroup2 mount), as CgroupDirs relative to `mount`.
absl::StatusOr<std::vector<CgroupDir>> ScanPodLevels(const std::string& mount,
                                                     const std::string& root_rel);

}  // namespace taogate::agent
