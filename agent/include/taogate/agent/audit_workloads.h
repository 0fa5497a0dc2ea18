// Audit mode per workload (docs/audit-mode.md): the bundle's workloads with
// `mode: audit` arrive as ProtectedTargets.audit_workloads; every workload
// cgroup on this node that one of them matches goes into the gate's
// per-workload audit map (tg_audit, bpf::Gate::SetAuditWorkload), where a
// connect enforce mode would refuse is let through and reported as
// WOULD_DENY. Quarantine and the kill switch still deny.
//
// A workload cgroup's facts are what the agent establishes itself: the node
// id, its path relative to the cgroup2 mount, and in pods mode the pod's
// namespace, service account and labels from the API server's view. Exe
// selectors cannot cover a whole cgroup: such workloads are refused (here
// and by the bundle loader), never read as "every process".
//
// Governed-root mode: the workload cgroups are the direct children of the
// governed root (the kernel's workload id). RootAuditSync re-decides them
// on every applied set, when a child cgroup appears or goes (inotify on the
// root), and on a periodic rescan. A new cgroup is enforced until its first
// decision (the safe direction). Pods mode: PodClassifier decides audit with
// each pod verdict (pod_classifier.h).
//
// Every change of a workload's audit state is a WORKLOAD record
// (event audit_on / audit_off, cgroup_id, path, rule = the matching
// workload id).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/agent/deps.h"
#include "taogate/agent/pod_classifier.h"
#include "taogate/agent/target_sync.h"
#include "taogate/common/fd.h"

namespace taogate::agent {

// InvalidArgument naming the first malformed audited workload (the whole
// update is then refused, as for a malformed target).
absl::Status ValidateAuditWorkloads(const v1::ProtectedTargets& msg);

class RootAuditSync final : public GovernedPodsSink {
 public:
  // mount: the cgroup2 mount; root_rel: the governed root below it.
  // kernel: only SetAudit and Audited are used.
  RootAuditSync(WorkloadMap& kernel, Evidence& evidence, std::string mount, std::string root_rel,
                std::string node_id, int64_t rescan_ms);
  ~RootAuditSync() override;
  RootAuditSync(const RootAuditSync&) = delete;
  RootAuditSync& operator=(const RootAuditSync&) = delete;

  // GovernedPodsSink: checked by ValidateProtectedTargets already.
  absl::Status Check(const v1::ProtectedTargets&) override { return absl::OkStatus(); }
  void Applied(const v1::ProtectedTargets& msg) override;

  // Re-decides every child of the governed root and removes audit entries
  // of cgroups that are gone. Unavailable if the root cannot be listed (the
  // kernel keeps what it has).
  absl::Status Reconcile();
  // Starts the inotify + rescan thread (Stop, or the destructor, ends it).
  absl::Status Start();
  void Stop();

  std::vector<AuditedWorkload> Audited() const;

 private:
  void Run();
  void Record(std::string_view event, const AuditedWorkload& w);

  WorkloadMap& kernel_;
  Evidence& evidence_;
  const std::string mount_, root_rel_, node_id_;
  const int64_t rescan_ms_;
  mutable std::mutex mu_;  // serializes Reconcile; guards the fields below
  std::vector<v1::HoldWorkload> rules_;
  std::map<uint64_t, AuditedWorkload> audited_;  // what the kernel holds, by cgroup id
  UniqueFd inotify_, stop_;
  std::thread thread_;
};

}  // namespace taogate::agent
