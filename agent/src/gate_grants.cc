// GrantTable over bpf::Gate (contract in gate_grants.h).
#include "taogate/agent/gate_grants.h"

#include "taogate/common/status.h"
#include "taogate/target/target_proto.h"

namespace taogate::agent {
namespace {

// The destinations the kernel gate grants: one tcp/udp host and port, or a
// unix socket path.
absl::StatusOr<target::Target> GrantableTarget(const v1::Target& t) {
  TG_ASSIGN_OR_RETURN(target::Target dest, target::FromProto(t));
  if (!dest.single_destination())
    return absl::InvalidArgumentError("the kernel gate grants only tcp, udp and unix targets");
  return dest;
}

}  // namespace

bool GateGrants::IsProtected(const v1::Target& target) const {
  // A target the gate cannot hold matches no entry: protected only in
  // deny-all mode (the redeem then fails at InstallGrant, as it must).
  auto dest = GrantableTarget(target);
  if (!dest.ok()) return gate_.options().mode == bpf::Mode::kDenyAllExceptAllowlisted;
  return gate_.IsProtected(*dest);
}

absl::Status GateGrants::InstallGrant(uint64_t cgroup_id, const v1::Target& target, const TaoId& id,
                                      int64_t expires_at_unix_ms) {
  TG_ASSIGN_OR_RETURN(target::Target dest, GrantableTarget(target));
  int64_t remaining_ns = (expires_at_unix_ms * 1'000'000) - clock_.WallNs();
  if (remaining_ns <= 0) return absl::FailedPreconditionError("grant would already be expired");
  uint64_t expiry_mono = static_cast<uint64_t>(clock_.MonoNs() + remaining_ns);
  return gate_.InstallGrant(cgroup_id, dest, id, expiry_mono);
}

}  // namespace taogate::agent
