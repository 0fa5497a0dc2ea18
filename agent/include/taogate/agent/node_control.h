// NodeControl over the kernel gate and the node ledger: status, probe, kill
// switch, ledger tail and inclusion proofs.
//
// Kill switch: engage writes the pinned quarantine map (per workload) or the
// pinned config's quarantine_all (scope all) FIRST -- the protective action
// never waits for anything -- then appends KILLSWITCH to the ledger; release
// appends KILL_SWITCH durably FIRST and only then clears the map, so no
// release is ever unrecorded. Both live in bpffs pins, so they survive agent
// restarts, and neither needs the governor.
//
// The kernel is reached only through KillSwitchGate and Enforcement
// (kernel_deps.h). Thread-safe; the kill-switch operations are serialised.
#pragma once

#include <mutex>
#include <string>

#include "taogate/agent/audit_workloads.h"
#include "taogate/agent/config.h"
#include "taogate/agent/kernel_deps.h"
#include "taogate/agent/metrics.h"
#include "taogate/agent/name_resolution.h"
#include "taogate/agent/redeem.h"
#include "taogate/agent/service.h"
#include "taogate/agent/hold.h"
#include "taogate/agent/target_sync.h"
#include "taogate/agent/pod_classifier.h"
#include "taogate/enforce/enforcer.h"
#include "taogate/ledger/ledger.h"

namespace taogate::agent {

class GateNodeControl final : public NodeControl {
 public:
  GateNodeControl(const AgentConfig& config, KillSwitchGate& gate, ledger::Ledger& ledger, Evidence& evidence,
                  Metrics& metrics, Redeemer& redeemer);

  void FillStatus(v1::StatusResponse* out) override;
  void FillProbe(v1::ProbeResponse* out) override;
  absl::StatusOr<v1::KillSwitchResponse> KillSwitch(const v1::KillSwitchRequest& req,
                                                   const PeerIdentity& who) override;
  absl::StatusOr<v1::LedgerTailResponse> LedgerTail(uint32_t count) override;
  absl::StatusOr<v1::LedgerTailResponse> LedgerRead(uint64_t from_seq, uint32_t max) override;
  absl::StatusOr<v1::LedgerProofResponse> LedgerProof(uint64_t seq, uint64_t tree_size) override;

  // Status and probe report its capability table; set once at start,
  // before the sockets open. May stay null (then no capability rows).
  void set_enforcer(const Enforcement* e) { enforcer_ = e; }
  // Status and probe warn about protected loopback targets whose port is
  // served on a wildcard address (wildcard_listeners.h), over the targets
  // this object declares (static and the governor's); set once at start. Null:
  // the static config targets only.
  void set_target_sync(const TargetSync* t) { target_sync_ = t; }
  // Pods mode: workload scopes "pod:NS/NAME", "namespace:NS" and
  // "selector:SEL" (pod_classifier.h PodScope) are kept by the classifier,
  // which also quarantines pods that come to match while engaged; a plain
  // workload path names the pod whose cgroup contains it. Set once at start.
  void set_pods(PodClassifier* pods) { pods_ = pods; }
  // The DNS resolver of the protected names (null: names are refused); with
  // set_target_sync, status lists the names and the capability table gets a
  // "network-names" row. Set once at start.
  void set_names(const NameResolution* names) { names_ = names; }
  // Hold mode (hold.h): status lists the held calls and the capability
  // table gets a "hold" row. Set once at start, before the sockets open.
  void set_hold(const HoldService* hold) { hold_ = hold; }
  // Governed-root mode: the audited workloads (audit_workloads.h) for status
  // and the "audit" row (in pods mode the classifier has them). Set once.
  void set_root_audit(const RootAuditSync* a) { root_audit_ = a; }

  // SHA-256 over the sorted static protected-target list (the "bundle" in force).
  const std::string& targets_sha256() const { return targets_sha256_; }

 private:
  struct Scope {
    bool all = false;
    uint64_t cgroup_id = 0;
    std::string path;   // absolute cgroup dir when known (needed for freeze)
    std::string label;  // "all", "workload:/w1", "cgroup:123", or a pod scope's text
    std::optional<PodScope> pods;  // a pod scope (pods mode)
  };
  absl::StatusOr<Scope> ResolveScope(const v1::KillSwitchRequest& req) const;
  absl::StatusOr<v1::KillSwitchResponse> PodScopeKillSwitch(const PodScope& scope, bool engage,
                                                            v1::KillSwitchMode mode, Evidence::Fields f);
  uint64_t CountWorkloads() const;
  std::vector<std::string> ExposureWarnings() const;
  // The "network-names" capability row (probe), and with it the names'
  // status and warnings (status), each source read once.
  void FillNameCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out) const;
  void FillNameCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out, const std::vector<NameView>& views,
                          const std::vector<dns::NameStatus>& resolved) const;
  void FillNames(v1::StatusResponse* out) const;
  // The "hold" capability row (probe), and with it the hold section
  // (status), each source read once.
  void FillHoldCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out) const;
  void FillHoldCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out, size_t rules,
                          const hold::SupervisorStats& stats) const;
  size_t HoldRuleCount() const;
  void FillHold(v1::StatusResponse* out) const;
  // The "audit" capability row (only while targets or workloads are
  // audited) and their lists.
  void FillAudit(google::protobuf::RepeatedPtrField<v1::Capability>* caps,
                 google::protobuf::RepeatedPtrField<std::string>* targets,
                 google::protobuf::RepeatedPtrField<std::string>* workloads) const;
  // Sets each row's `requested` from the config and the protected set.
  void MarkRequested(google::protobuf::RepeatedPtrField<v1::Capability>* rows) const;

  const AgentConfig& config_;
  KillSwitchGate& gate_;
  ledger::Ledger& ledger_;
  Evidence& evidence_;
  Metrics& metrics_;
  Redeemer& redeemer_;
  PodClassifier* pods_ = nullptr;
  std::string targets_sha256_;
  const Enforcement* enforcer_ = nullptr;
  const TargetSync* target_sync_ = nullptr;
  const RootAuditSync* root_audit_ = nullptr;
  const NameResolution* names_ = nullptr;
  const HoldService* hold_ = nullptr;
  std::mutex killswitch_mu_;
};

}  // namespace taogate::agent
