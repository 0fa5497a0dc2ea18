// The production side of kernel_deps.h: thin adapters that forward to
// bpf::Gate, enforce::Enforcer and TargetSync. They own nothing; what they
// wrap must outlive them. No logic lives here (it is tested through the
// interfaces), so each method is one call.
#pragma once

#include "taogate/agent/target_sync.h"
#include "taogate/bpf/gate.h"
#include "taogate/enforce/enforcer.h"
#include "taogate/agent/kernel_deps.h"

namespace taogate::agent {

class GateKernel final : public DecisionSource, public KillSwitchGate {
 public:
  explicit GateKernel(bpf::Gate& gate) : gate_(gate) {}

  absl::StatusOr<int> PollEvents(int timeout_ms,
                                 const std::function<void(const bpf::DecisionEvent&)>& fn) override;
  absl::StatusOr<size_t> SweepExpiredGrants() override;
  bpf::ProbeReport Probe() const override;
  absl::Status Quarantine(uint64_t cgroup_id, bpf::QuarantineMode mode) override;
  absl::Status QuarantineAll(bpf::QuarantineMode mode) override;
  absl::Status Release(uint64_t cgroup_id) override;
  absl::Status ReleaseAll() override;
  absl::StatusOr<uint64_t> QuarantinedCount() const override;
  absl::StatusOr<bool> QuarantineAllEngaged() const override;

 private:
  bpf::Gate& gate_;
};

class EnforcerAdapter final : public Enforcement {
 public:
  explicit EnforcerAdapter(enforce::Enforcer& enforcer) : enforcer_(enforcer) {}
  std::vector<enforce::Capability> Capabilities() const override;
  absl::StatusOr<int> PollLsmEvents(int timeout_ms,
                                    const std::function<void(const enforce::LsmDenial&)>& fn) override;

 private:
  enforce::Enforcer& enforcer_;
};

class TargetSyncSink final : public TargetSink {
 public:
  explicit TargetSyncSink(TargetSync& sync) : sync_(sync) {}
  absl::Status Apply(const v1::ProtectedTargets& msg) override;
  TargetSyncState state() const override;

 private:
  TargetSync& sync_;
};

}  // namespace taogate::agent
