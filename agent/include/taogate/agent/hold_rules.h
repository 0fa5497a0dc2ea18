// The bundle's hold rules on the agent (ProtectedTargets.hold, docs/hold.md):
// which held connects the agent runs Acquire for, and with what.
//
// A rule matches a held call when its workloads match the held process's
// attested facts (node id, workload cgroup path, executable path and hash;
// in pods mode namespace, service account and pod labels, from the API
// server's view: every selector present must match, any element of a list;
// a fact the attester did not establish matches nothing) and one of
// its targets covers the destination (the ids of the protected-target
// entries covering it, from TargetSync::TargetIdsAt). The first matching
// rule is used; none matching means "not held": the syscall continues at
// once and the gate refuses it as it would without hold mode.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "governor.pb.h"

namespace taogate::agent {

inline constexpr uint32_t kMinHoldMs = 1000, kMaxHoldMs = 3'600'000;

// A bundle workload as agents receive it (hold rules, audited workloads):
// InvalidArgument unless its id and selectors are well formed.
absl::Status CheckBundleWorkload(const v1::HoldWorkload& w);
// Every selector present matches the facts (any element of a list); a fact
// the attester did not establish (empty) matches nothing.
bool WorkloadMatches(const v1::HoldWorkload& w, const v1::AttestedWorkload& facts);
// The id of the first of `workloads` that matches; empty if none does
// (audit mode per workload: audit_workloads.h).
std::string FirstMatch(const std::vector<v1::HoldWorkload>& workloads, const v1::AttestedWorkload& facts);

// InvalidArgument naming the first malformed rule (the whole update is then
// refused, as for a malformed target).
absl::Status ValidateHoldRules(const v1::ProtectedTargets& msg);

struct HoldChoice {
  std::string rule;
  std::string action_class;
  int64_t max_hold_ms = 0;  // the rule's, capped by the node's hold_max_ms
};

std::optional<HoldChoice> ChooseHold(const std::vector<v1::HoldRule>& rules, const std::set<std::string>& target_ids,
                                     const v1::AttestedWorkload& facts, int64_t node_max_hold_ms);

}  // namespace taogate::agent
