// Pods mode assembled (config workloads: pods): the kernel gate's workload
// map, the PodClassifier, the cgroup tree watch and the Kubernetes API watch
// of this node's pods and the namespaces, and the bundle's selectors from
// TargetSync. See pod_classifier.h for the rules.
//
// Start order: the classifier reconciles the pinned map with the live tree
// (no gap for live pods), the config's selectors (no governor) are set, the
// cgroup watch starts, then the API watch. Stop is the reverse; nothing is
// removed from the kernel on stop (the pinned verdicts keep enforcing, and
// a new pod meanwhile is governed: no entry).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/agent/cgroup_watch.h"
#include "taogate/agent/config.h"
#include "taogate/agent/pod_classifier.h"
#include "taogate/agent/target_sync.h"
#include "taogate/bpf/gate.h"
#include "taogate/k8s/api_client.h"
#include "taogate/k8s/node_watch.h"
#include "taogate/k8s/store.h"
#include "taogate/ledger/ledger.h"

namespace taogate::agent {

// WorkloadMap over the gate (one call each).
class GateWorkloadMap final : public WorkloadMap {
 public:
  explicit GateWorkloadMap(bpf::Gate& gate) : gate_(gate) {}
  absl::Status Set(uint64_t cgroup_id, WorkloadVerdict verdict) override;
  absl::StatusOr<size_t> Forget(uint64_t cgroup_id) override;
  absl::StatusOr<std::map<uint64_t, WorkloadVerdict>> List() const override;
  absl::Status Quarantine(uint64_t cgroup_id, bool kill) override;
  absl::Status Release(uint64_t cgroup_id) override;
  absl::Status SetAudit(uint64_t cgroup_id, bool on) override;
  absl::StatusOr<std::vector<uint64_t>> Audited() const override;

 private:
  bpf::Gate& gate_;
};

class PodsMode final : public GovernedPodsSink {
 public:
  // gate and evidence must outlive the PodsMode. Nothing runs until Start.
  static absl::StatusOr<std::unique_ptr<PodsMode>> Open(const AgentConfig& config, bpf::Gate& gate,
                                                        Evidence& evidence);
  ~PodsMode() override;
  absl::Status Start();
  void Stop();

  // GovernedPodsSink (TargetSync): the bundle's governed_pods.
  absl::Status Check(const v1::ProtectedTargets& msg) override;
  void Applied(const v1::ProtectedTargets& msg) override;

  PodClassifier& classifier() { return *classifier_; }
  // Prometheus text: pod counts, API watch and cgroup watch state.
  std::string MetricsText() const;

 private:
  PodsMode() = default;
  AgentConfig config_;
  std::unique_ptr<GateWorkloadMap> map_;
  std::unique_ptr<PodClassifier> classifier_;
  std::unique_ptr<CgroupTreeWatch> cgroups_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::unique_ptr<k8s::Store> store_;
  std::unique_ptr<k8s::NodeWatch> watch_;
};

// In a container with its own cgroup namespace (the default for cgroup v2
// pods), /proc/<pid>/cgroup paths are relative to that namespace; the agent
// needs the host's view (peers' pods, its own pod). With hostPID, pid 1 is
// the host's init: join its cgroup namespace if it differs. OK if already
// there or if pid 1's namespace cannot be read (logged); an error if it
// differs and cannot be joined. Per thread: call it
// before the process starts any thread.
absl::Status JoinHostCgroupNamespace();

// Replays the node ledger's KILLSWITCH records of pod scopes in order, so a
// scope engaged before a restart keeps catching pods that appear after it
// (the quarantine of pods that existed is pinned in the kernel anyway).
// Returns how many scopes are engaged afterwards.
absl::StatusOr<size_t> RestorePodScopes(const ledger::Ledger& ledger, PodClassifier& classifier);

// The calling process's cgroup v2 path ("/kubepods.slice/.../x.scope").
absl::StatusOr<std::string> OwnCgroupPath();

}  // namespace taogate::agent
