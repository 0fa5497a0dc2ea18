#include "taogate/agent/kernel_adapters.h"

namespace taogate::agent {

absl::StatusOr<int> GateKernel::PollEvents(int timeout_ms,
                                           const std::function<void(const bpf::DecisionEvent&)>& fn) {
  return gate_.PollEvents(timeout_ms, fn);
}
absl::StatusOr<size_t> GateKernel::SweepExpiredGrants() { return gate_.SweepExpiredGrants(); }
bpf::ProbeReport GateKernel::Probe() const { return gate_.Probe(); }
absl::Status GateKernel::Quarantine(uint64_t cgroup_id, bpf::QuarantineMode mode) {
  return gate_.Quarantine(cgroup_id, mode);
}
absl::Status GateKernel::QuarantineAll(bpf::QuarantineMode mode) { return gate_.QuarantineAll(mode); }
absl::Status GateKernel::Release(uint64_t cgroup_id) { return gate_.Release(cgroup_id); }
absl::Status GateKernel::ReleaseAll() { return gate_.ReleaseAll(); }
absl::StatusOr<uint64_t> GateKernel::QuarantinedCount() const { return gate_.QuarantinedCount(); }
absl::StatusOr<bool> GateKernel::QuarantineAllEngaged() const { return gate_.QuarantineAllEngaged(); }

std::vector<enforce::Capability> EnforcerAdapter::Capabilities() const { return enforcer_.Capabilities(); }
absl::StatusOr<int> EnforcerAdapter::PollLsmEvents(int timeout_ms,
                                                   const std::function<void(const enforce::LsmDenial&)>& fn) {
  return enforcer_.PollLsmEvents(timeout_ms, fn);
}

absl::Status TargetSyncSink::Apply(const v1::ProtectedTargets& msg) { return sync_.Apply(msg); }
TargetSyncState TargetSyncSink::state() const { return sync_.state(); }

}  // namespace taogate::agent
