// Request validation and conversions between the wire (governor.proto) and
// the policy engine / ledger. Pure functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/ledger/record.h"
#include "taogate/policies/policy.h"
#include "taogate/policies/reason.h"

namespace taogate::governance::internal {

// InvalidArgument naming the field: binding (node id required, cgroup id or
// canonical pod uid, no workload_path other than the one the governor
// binds), canonical cgroup_path, sizes, no NUL or control characters anywhere.
absl::Status ValidateCommon(const v1::WorkloadBinding& binding, const std::string& workload,
                            const std::string& action_class, const std::string& cgroup_path);

// AuthorizationRequest.annotations: recorded, never matched, never trusted
// (whoever forwarded them checked them too; the governor checks again).
inline constexpr size_t kMaxAnnotations = 16;
inline constexpr size_t kMaxAnnotationKeyBytes = 63;    // [A-Za-z0-9][A-Za-z0-9._/-]*
inline constexpr size_t kMaxAnnotationValueBytes = 256;

// The ledger `annotations` value of `a`: "" when there are none, else
// "sha256:<hex> k1=<summary>; k2=<summary>" in key order, where the digest
// covers k1 NUL v1 NUL k2 NUL v2 NUL ... (exact bytes) and each non-empty
// value is refused or summarized by policies::SanitizeReason, as `reason`
// is. InvalidArgument naming the annotation otherwise.
absl::StatusOr<std::string> AnnotationsField(const google::protobuf::Map<std::string, std::string>& a);

// The parts of a request that must parse before the policy sees it.
struct CheckedRequest {
  policies::TargetRef target;
  policies::ReasonRecord reason;
  std::string annotations;  // AnnotationsField
};
// ValidateCommon on `attested_binding` (an accepted attestation's, which
// replaces the request's) or on the request's own, which may then not
// declare pod_labels (kLabelsAttestedOnly); then the target, the reason and
// the annotations.
absl::StatusOr<CheckedRequest> CheckRequest(const v1::AuthorizationRequest& req,
                                            const v1::WorkloadBinding* attested_binding);

// The workload path a TAO binds: the declared cgroup_path, or "/" (anywhere)
// when none was declared (then only path-free selectors can match).
std::string BoundWorkloadPath(const std::string& cgroup_path);
// `b` with workload_path = BoundWorkloadPath(cgroup_path). Call after
// ValidateCommon; the policy is then evaluated on the result (ToAttributes)
// so that what the policy matched is exactly what the agent enforces.
v1::WorkloadBinding BindWorkload(v1::WorkloadBinding b, const std::string& cgroup_path);

absl::StatusOr<policies::TargetRef> ToTargetRef(const v1::Target& t);
// Selector inputs of a request that no node attested: node and workload path
// from the bound binding, nothing else (labels and the attested-only facts
// come from an attestation only: attest.h).
policies::WorkloadAttributes ToAttributes(const v1::WorkloadBinding& b);

// Pod labels select rules, and only a node agent can vouch for them.
inline constexpr char kLabelsAttestedOnly[] =
    "pod_labels are attested by the node agent only";

// Intent hash (governor_format.h section 1).
std::string IntentHash(const std::string& decision_id, const std::string& requester,
                       const v1::WorkloadBinding& b, const std::string& workload,
                       const std::string& action, const std::string& target_text,
                       const std::string& policy_hex, int64_t ttl_s);

// 32 lower-case hex digits from the CSPRNG.
absl::StatusOr<std::string> NewDecisionId();

// "sha256:<hex> <summary>".
std::string ReasonField(const policies::ReasonRecord& r);

// decision_id, actor, node_id, cgroup_id, pod_uid, workload, action_class,
// target, policy_sha256.
ledger::Fields RequestFields(const std::string& decision_id, const std::string& actor,
                             const v1::WorkloadBinding& b, const std::string& workload,
                             const std::string& action, const std::string& target_text,
                             const std::string& policy_hex);

// Ledger values must not carry control characters: replace them.
std::string LedgerSafe(std::string_view s, size_t max = 512);

}  // namespace taogate::governance::internal
