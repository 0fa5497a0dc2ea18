// The agent's dependencies on the kernel gate (deps.h: GrantTable,
// TargetTable) implemented over taogate::bpf::Gate, which
// owns every map and key layout.
//
// IsProtected asks the gate's own target maps (bpf::Gate::IsProtected), so
// "protected" means exactly what the kernel enforces, not what a config file
// says; a target the gate cannot look up is "not protected" -> the redeem is
// refused (fail closed: no grant without a gate). InstallGrant converts the
// TAO's wall-clock expiry to CLOCK_MONOTONIC (the kernel's clock) and keys
// the grant on the workload-level cgroup. A DNS name target (docs/names.md)
// is looked up in the NameAddressSource (set_names; without one a name is
// never protected): its grant is one bpf::Gate::InstallGrantSet over the
// name's current addresses, at most bpf::Gate::kMaxGrantSet of them.
//
// Thread-safe (bpf::Gate's map calls are).
#pragma once

#include "taogate/agent/deps.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/clock.h"

namespace taogate::agent {

class GateGrants final : public GrantTable, public TargetTable {
 public:
  // `gate` and `clock` are not owned and must outlive this object.
  explicit GateGrants(bpf::Gate& gate, const Clock& clock = RealClock()) : gate_(gate), clock_(clock) {}

  bool IsProtected(const v1::Target& target) const override;
  absl::Status InstallGrant(uint64_t cgroup_id, const v1::Target& target, const TaoId& id,
                            int64_t expires_at_unix_ms) override;

  absl::Status AddTarget(const target::Target& t) override { return gate_.AddTarget(t); }
  absl::Status AddAuditTarget(const target::Target& t) override {
    return gate_.AddTarget(t, bpf::TargetKind::kAudit);
  }
  absl::Status RemoveTarget(const target::Target& t) override { return gate_.RemoveTarget(t); }
  bool ProtectsListedOnly() const override { return gate_.options().mode == bpf::Mode::kProtectListed; }

  // Where DNS names' addresses come from; set once at start, before any redeem.
  void set_names(const NameAddressSource* names) { names_ = names; }

 private:
  // A named target's destinations: one per current address of the name.
  absl::StatusOr<std::vector<target::Target>> NamedDestinations(const target::Target& named) const;

  bpf::Gate& gate_;
  const Clock& clock_;
  const NameAddressSource* names_ = nullptr;
};

}  // namespace taogate::agent
