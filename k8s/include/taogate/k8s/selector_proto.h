// k8s::PodSelector <-> v1::GovernedPodSelector (governor.proto): the one
// conversion of the bundle's governed_pods to the wire and back. The governor
// writes what its loader parsed (ToProto); the agent reads what it receives
// (FromProto) and must not trust it further than the bundle's YAML: the same
// checks apply (selector.h), so a selector that reached the wire malformed,
// by a bug or by tampering, is refused, never read as "everything" or
// "nothing".
//
// FromProto refuses, with kInvalidArgument naming the field
// (e.g. "pod_selector.match_expressions[0].operator: unknown operator 'Like'"):
//   - an unset namespace_selector or pod_selector (proto3 message presence;
//     an empty but set LabelSelector is `{}`, which matches everything);
//   - an invalid label key or value, an operator other than In, NotIn,
//     Exists, DoesNotExist (exact case), In/NotIn without values,
//     Exists/DoesNotExist with values;
//   - a service account that is not "name" or "namespace/name".
//   - more than kMaxGovernedPodSelectors entries in a list (the bundle loader
//     refuses them too, so a governor never ships what agents refuse).
// ToProto writes a LabelSelector::Nothing() (which the bundle never holds) as
// an unset field, so FromProto refuses it rather than widening it to `{}`.
// Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <google/protobuf/repeated_ptr_field.h>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/k8s/selector.h"

namespace taogate::k8s {

inline constexpr size_t kMaxGovernedPodSelectors = 1024;

std::string_view OperatorName(SelectorOp op);  // "In", "NotIn", "Exists", "DoesNotExist"

absl::StatusOr<LabelSelector> FromProto(const v1::LabelSelector& s);
absl::StatusOr<PodSelector> FromProto(const v1::GovernedPodSelector& s);
// Every entry, or the first error prefixed with "governed_pods[i]: ".
absl::StatusOr<std::vector<PodSelector>> FromProto(
    const google::protobuf::RepeatedPtrField<v1::GovernedPodSelector>& list);

v1::LabelSelector ToProto(const LabelSelector& s);  // s must not be Nothing()
v1::GovernedPodSelector ToProto(const PodSelector& s);

}  // namespace taogate::k8s
