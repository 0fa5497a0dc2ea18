// Node attestation (AuthorizationRequest.attested): which caller may attest
// which workload, and what the governor takes from an attestation. The rules
// are in docs/governor.md, "Node attestation: trust rules". Pure functions;
// thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/policies/policy.h"

namespace taogate::governance::internal {

inline constexpr char kNotANode[] = "attestation from a non-node identity";

struct NodeIdentity {
  std::string trust_domain;
  std::string node_id;
};

// `uri` parsed as spiffe://<trust domain>/node/<node id> (node id: one path
// segment, no control characters, at most tao::kMaxNodeIdBytes); nullopt for
// anything else, and for another trust domain than `trust_domain` when that
// is set.
std::optional<NodeIdentity> ParseNodeIdentity(std::string_view uri,
                                              std::string_view trust_domain);

// What an accepted attestation gives the request.
struct Attestation {
  std::string actor;             // derived workload identity (policy subject, TAO actor)
  v1::WorkloadBinding binding;   // node_id, cgroup_id, pod_uid, workload_path = cgroup_path
  policies::WorkloadAttributes attributes;  // every attribute rules select on
};

// The workload identity of attested facts `a` in `trust_domain`:
//   Kubernetes (namespace and service_account set): spiffe://<td>/ns/<ns>/sa/<sa>
//   elsewhere: spiffe://<td>/node/<node id>/cgroup<cgroup_path>
std::string DerivedActor(std::string_view trust_domain, const v1::AttestedWorkload& a);

// `caller` (the verified URI SAN) attesting `a`. PermissionDenied with the
// stable messages kNotANode or "node X attested a workload of node Y" when
// the caller may not attest it; InvalidArgument naming the attested.* field
// when a fact is malformed. `trust_domain` is the governor's configured one
// ("" = the node certificate's own).
absl::StatusOr<Attestation> Attest(std::string_view caller, const v1::AttestedWorkload& a,
                                   std::string_view trust_domain);

// The binding an attestation claims (node_id, cgroup_id, pod_uid), for the
// ledger record of a refused one.
v1::WorkloadBinding ClaimedBinding(const v1::AttestedWorkload& a);

}  // namespace taogate::governance::internal
