// GrantTable over bpf::Gate (contract in gate_grants.h).
#include "taogate/agent/gate_grants.h"

#include "taogate/agent/node_addresses.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/target/target_proto.h"

namespace taogate::agent {
namespace {

// The destinations the kernel gate grants: one tcp/udp host (or name) and
// port, or a unix socket path.
absl::StatusOr<target::Target> GrantableTarget(const v1::Target& t) {
  TG_ASSIGN_OR_RETURN(target::Target dest, target::FromProto(t));
  if (!dest.one_destination())
    return absl::InvalidArgumentError("the kernel gate grants only tcp, udp and unix targets");
  return dest;
}

}  // namespace

absl::StatusOr<std::vector<target::Target>> GateGrants::NamedDestinations(const target::Target& named) const {
  std::vector<target::Ip> addrs = names_ ? names_->NameAddresses(named.name) : std::vector<target::Ip>{};
  if (addrs.empty())
    return absl::FailedPreconditionError(
        StrCat(named.name, " has no current address protected on this node (not in the protected set, or "
               "not resolved yet)"));
  if (addrs.size() > bpf::Gate::kMaxGrantSet)
    return absl::FailedPreconditionError(StrCat(named.name, " has ", addrs.size(),
                                                " addresses; one grant covers at most ", bpf::Gate::kMaxGrantSet));
  std::vector<target::Target> dests;
  for (const auto& ip : addrs) dests.push_back(AtAddress(named, ip));
  return dests;
}

bool GateGrants::IsProtected(const v1::Target& target) const {
  // A target the gate cannot hold matches no entry: protected only in
  // deny-all mode (the redeem then fails at InstallGrant, as it must).
  auto dest = GrantableTarget(target);
  if (!dest.ok()) return gate_.options().mode == bpf::Mode::kDenyAllExceptAllowlisted;
  if (dest->host != target::Host::kName) return gate_.IsProtected(*dest);
  auto dests = NamedDestinations(*dest);
  if (!dests.ok()) return false;
  for (const auto& d : *dests)
    if (!gate_.IsProtected(d)) return false;
  return true;
}

absl::Status GateGrants::InstallGrant(uint64_t cgroup_id, const v1::Target& target, const TaoId& id,
                                      int64_t expires_at_unix_ms) {
  TG_ASSIGN_OR_RETURN(target::Target dest, GrantableTarget(target));
  int64_t remaining_ns = (expires_at_unix_ms * 1'000'000) - clock_.WallNs();
  if (remaining_ns <= 0) return absl::FailedPreconditionError("grant would already be expired");
  uint64_t expiry_mono = static_cast<uint64_t>(clock_.MonoNs() + remaining_ns);
  if (dest.host != target::Host::kName) return gate_.InstallGrant(cgroup_id, dest, id, expiry_mono);
  TG_ASSIGN_OR_RETURN(std::vector<target::Target> dests, NamedDestinations(dest));
  return gate_.InstallGrantSet(cgroup_id, dests, id, expiry_mono);
}

}  // namespace taogate::agent
