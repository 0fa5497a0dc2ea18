// The authority a bundle change adds and removes ("taogatectl policy diff"),
// computed from the two loaded bundles, not their text:
//
//   access       per (actor, workload, action, target): deny / require_approval
//                / permit, the TTL, and for approvals the count and the
//                identities who could approve (Policy::CheckApprovals). A cell
//                is what Evaluate gives a request that matches exactly that one
//                declared workload ("*" = a workload matching none of them) and
//                lies in exactly that one target. Compared by names, so actors
//                gaining roles, rules gaining targets etc. all show here.
//   break_glass  per cell: the longest TTL some scope would grant.
//   deny_rule    a deny rule removed or its actors/roles/workloads/actions/
//                targets narrowed (adds: it guards less), or added/widened.
//   rate_limit   each actor's effective limit (own entry, else default, else
//                none = unlimited) and the default; any of rate or burst raised
//                adds.
//   target       a target's ranges and paths. Narrowed or removed: adds (the
//                gate stops guarding those addresses for every workload).
//                Widened: adds if some grant names the target, else removes.
//   workload     a workload's selectors. Widened: adds if some grant names it;
//                narrowed: adds if some deny rule names it; else removes.
//   approver_key an actor's approver keys added (adds) or removed.
//   governed_pods a selector entry removed (adds: pods may fall outside the
//                gate) or added.
//   audit        a target or workload put in audit mode (adds: the gate lets
//                through what it refused) or back to enforce.
// A change that both widens and narrows (count lowered, TTL shortened) counts
// as adding authority. Pure; safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/policies/policy.h"

namespace taogate::policies {

struct AuthorityChange {
  bool adds = false;     // true: authority added; false: removed
  std::string kind;      // access, break_glass, deny_rule, rate_limit, target, ...
  std::string subject;   // who or what, e.g. "spiffe://x (workload reporter)"
  std::string detail;    // one line: what changed, "before -> after"
};

struct PolicyDiff {
  std::vector<AuthorityChange> changes;  // grouped, in a stable order
  bool AddsAuthority() const;
};

// ResourceExhausted if a bundle expands to more than kMaxDiffCells cells.
inline constexpr size_t kMaxDiffCells = 4'000'000;
absl::StatusOr<PolicyDiff> DiffPolicies(const Policy& before, const Policy& after);

}  // namespace taogate::policies
