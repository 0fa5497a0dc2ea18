// The kernel as the agent's event, status and kill-switch paths see it, each
// part behind one small interface (as deps.h does for the redeem path) so
// EventConsumer, GateNodeControl and GovernorWatch are unit-tested without
// root. The production implementations are thin adapters over bpf::Gate,
// enforce::Enforcer and TargetSync (kernel_adapters.h); the types passed
// across (bpf::DecisionEvent, bpf::ProbeReport, enforce::Capability, ...)
// are plain values.
//
// Thread safety is the implementation's: the adapters are as thread-safe as
// what they wrap (bpf::Gate: PollEvents from one thread at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/agent/target_sync.h"  // TargetSyncState
#include "taogate/bpf/gate.h"
#include "taogate/enforce/enforcer.h"
#include "governor.pb.h"

namespace taogate::agent {

// The gate's decision events and grant housekeeping (EventConsumer).
class DecisionSource {
 public:
  virtual ~DecisionSource() = default;
  // Calls fn for every decision event, waiting up to timeout_ms for the
  // first; returns how many were delivered.
  virtual absl::StatusOr<int> PollEvents(int timeout_ms,
                                         const std::function<void(const bpf::DecisionEvent&)>& fn) = 0;
  // Deletes consumed and expired grants from the kernel.
  virtual absl::StatusOr<size_t> SweepExpiredGrants() = 0;
};

// Hook state and the kill switch (GateNodeControl).
class KillSwitchGate {
 public:
  virtual ~KillSwitchGate() = default;
  virtual bpf::ProbeReport Probe() const = 0;
  virtual absl::Status Quarantine(uint64_t cgroup_id, bpf::QuarantineMode mode) = 0;
  virtual absl::Status QuarantineAll(bpf::QuarantineMode mode) = 0;
  virtual absl::Status Release(uint64_t cgroup_id) = 0;
  virtual absl::Status ReleaseAll() = 0;
  // Workloads in the quarantine map, and whether the all-workloads switch is set.
  virtual absl::StatusOr<uint64_t> QuarantinedCount() const = 0;
  virtual absl::StatusOr<bool> QuarantineAllEngaged() const = 0;
};

// The per-capability enforcement choice and the BPF LSM's denials.
class Enforcement {
 public:
  virtual ~Enforcement() = default;
  virtual std::vector<enforce::Capability> Capabilities() const = 0;
  // Calls fn for every LSM denial, waiting up to timeout_ms; 0 without LSM.
  virtual absl::StatusOr<int> PollLsmEvents(int timeout_ms,
                                            const std::function<void(const enforce::LsmDenial&)>& fn) = 0;
};

// Where the governor's protected-target sets go (GovernorWatch).
class TargetSink {
 public:
  virtual ~TargetSink() = default;
  // Validates and applies the whole set, or keeps the previous one (error).
  virtual absl::Status Apply(const v1::ProtectedTargets& msg) = 0;
  virtual TargetSyncState state() const = 0;
};

}  // namespace taogate::agent
