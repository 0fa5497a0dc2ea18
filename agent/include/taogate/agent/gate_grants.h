// GrantTable over the kernel gate (taogate::bpf::Gate).
//
// IsProtected asks the gate's own protected-target maps, read through their
// pins (<pin_root>/maps/tg_targets4|6, tg_unix_targets; layout in
// bpf/gate_format.h), so "protected" means exactly what the kernel enforces,
// not what a config file says. In deny-all mode every destination that is
// not allowlisted is protected. A map that cannot be read means "not
// protected" -> the redeem is refused (fail closed: no grant without a gate).
//
// InstallGrant converts the TAO's wall-clock expiry to CLOCK_MONOTONIC (the
// kernel's clock) and keys the grant on the workload-level cgroup.
//
// Thread-safe: Gate's map calls are; the pinned map fds are read-only after
// construction.
#pragma once

#include <memory>
#include <string>

#include "taogate/agent/deps.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/fd.h"

namespace taogate::agent {

class GateGrants final : public GrantTable {
 public:
  // `gate` is not owned and must outlive this object.
  static absl::StatusOr<std::unique_ptr<GateGrants>> Create(bpf::Gate& gate, const std::string& pin_root,
                                                            bpf::Mode mode);

  bool IsProtected(const v1::Target& target) const override;
  absl::Status InstallGrant(uint64_t cgroup_id, const v1::Target& target, const TaoId& id,
                            int64_t expires_at_unix_ms) override;

  // Number of workloads in the pinned quarantine map, and whether the
  // all-workloads kill switch is set in the pinned config.
  absl::StatusOr<uint64_t> QuarantinedCount() const;
  absl::StatusOr<bool> QuarantineAllEngaged() const;

 private:
  GateGrants(bpf::Gate& gate, bpf::Mode mode) : gate_(gate), mode_(mode) {}
  // 0 = no entry, else tg_target_kind of the best match.
  uint32_t LookupKind(const v1::Target& target) const;

  bpf::Gate& gate_;
  const bpf::Mode mode_;
  UniqueFd targets4_, targets6_, unix_targets_, quarantine_, config_;
};

// v1::Target -> the gate's grant target. InvalidArgument for targets the
// gate cannot grant (file/exec, missing port, bad address).
absl::StatusOr<bpf::GrantTarget> ToGrantTarget(const v1::Target& target);

}  // namespace taogate::agent
