// Internal: the pieces of DiffPolicies (policy_diff.h), shared by
// policy_diff.cc (access and break-glass cells) and policy_diff_defs.cc
// (targets, workloads, deny rules, rate limits, keys, governed pods).
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/policies/policy.h"
#include "taogate/policies/policy_diff.h"

namespace taogate::policies::diff_internal {

// The workload key of a request matching none of the declared workloads.
inline constexpr char kOtherWorkload[] = "*";

// (actor identity, workload id or "*", action class id, target id)
using Cell = std::tuple<std::string, std::string, std::string, std::string>;

struct Grant {  // a cell that is not denied
  Effect effect = Effect::kPermit;  // kPermit or kRequireApproval
  uint32_t ttl = 0;
  uint32_t count = 0;                  // approvals
  std::vector<std::string> roles;      // approval roles, sorted
  std::vector<std::string> approvers;  // who could approve, sorted
  std::string rule;                    // shown, not compared
};
using Grants = std::map<Cell, Grant>;

struct Glass {  // a cell some break-glass scope covers
  uint32_t ttl = 0;  // the longest max_ttl of the covering scopes
  std::string scope;
};
using Glasses = std::map<Cell, Glass>;

absl::StatusOr<Grants> AccessCells(const Policy& p);
absl::StatusOr<Glasses> BreakGlassCells(const Policy& p);

// Everything but the cells; `granted_targets` / `granted_workloads` are the
// ids some grant or break-glass cell of `after` names.
void DiffDefinitions(const Policy& before, const Policy& after,
                     const std::vector<std::string>& granted_targets,
                     const std::vector<std::string>& granted_workloads,
                     std::vector<AuthorityChange>& out);

std::string Join(const std::vector<std::string>& v);  // "a, b, c"

}  // namespace taogate::policies::diff_internal
