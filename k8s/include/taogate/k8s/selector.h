// Which pods are governed: Kubernetes label selectors (metav1.LabelSelector)
// and the policy bundle's pod selectors, evaluated on API-server facts only.
//
// LabelSelector semantics are metav1's (LabelSelectorAsSelector):
//   - matchLabels AND every matchExpression must hold;
//   - In: the key is present with one of the values; NotIn: the key is absent
//     or its value is none of them; Exists / DoesNotExist: presence;
//   - the EMPTY selector `{}` matches everything; the NULL selector (YAML
//     `null`, or LabelSelector::Nothing()) matches nothing.
// Keys are qualified names ([prefix/]name: prefix a DNS-1123 subdomain of at
// most 253 chars, name at most 63 chars of [A-Za-z0-9_.-] starting and ending
// alphanumeric); values are empty or at most 63 such chars; In/NotIn need at
// least one value, Exists/DoesNotExist none. Violations are kInvalidArgument
// naming the key.
//
// PodSelector = {namespaceSelector, podSelector, serviceAccounts}: a pod is
// governed iff its namespace's labels match namespaceSelector AND its labels
// match podSelector AND (serviceAccounts is empty OR its
// spec.serviceAccountName is listed, as "name" or "namespace/name").
// In the bundle both selectors must be written (`{}` for "all"): an absent or
// null one is an error, not "nothing", because a selector that silently
// governs no pod is the failure a security policy must not have.
//
// Re-evaluation: Governs() is a function of the Pod and Namespace objects the
// API server holds. Labels change (a pod with RBAC to patch itself can
// relabel itself; a namespace admin can relabel a namespace), so the caller
// MUST re-evaluate on every pod and namespace update event (and on relist),
// never cache a verdict past the object it was computed from.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/k8s/objects.h"

namespace taogate::k8s {

enum class SelectorOp { kIn, kNotIn, kExists, kDoesNotExist };

struct Requirement {
  std::string key;
  SelectorOp op = SelectorOp::kExists;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // Validated; kInvalidArgument naming the first bad key, value or operator.
  static absl::StatusOr<LabelSelector> Make(Labels match_labels,
                                            std::vector<Requirement> expressions);
  static LabelSelector Everything() { return LabelSelector(); }  // `{}`
  static LabelSelector Nothing();                                 // `null`

  bool Matches(const Labels& labels) const;
  bool matches_nothing() const { return nothing_; }
  // What Make() was given (both empty for Everything() and Nothing()); for
  // writing the selector back out (selector_proto.h).
  const Labels& match_labels() const { return match_labels_; }
  const std::vector<Requirement>& expressions() const { return expressions_; }

 private:
  bool nothing_ = false;
  Labels match_labels_;
  std::vector<Requirement> expressions_;
};

struct PodSelector {
  LabelSelector namespace_selector;
  LabelSelector pod_selector;
  std::vector<std::string> service_accounts;  // "name" or "namespace/name"

  // False if `ns` is not the pod's namespace (the caller passed the wrong one).
  bool Governs(const Pod& pod, const Namespace& ns) const;
};

// True iff any selector governs the pod (a list is an OR).
bool AnyGoverns(const std::vector<PodSelector>& selectors, const Pod& pod, const Namespace& ns);

// RFC 1123 label, [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63: a namespace name.
bool IsDnsLabel(std::string_view s);
absl::Status ValidateLabelKey(std::string_view key);
absl::Status ValidateLabelValue(std::string_view value);
// "name" (DNS-1123 subdomain) or "namespace/name" (namespace a DNS-1123 label).
absl::Status ValidateServiceAccountRef(std::string_view ref);

// From YAML. A LabelSelector map has only `matchLabels` and `matchExpressions`
// (each {key, operator, values}); YAML null gives Nothing(). A PodSelector map
// has `namespaceSelector` and `podSelector` (required, non-null) and optional
// `serviceAccounts`. Unknown keys, wrong node types, and unquoted scalars
// YAML would read as a bool, number or null where a string is expected are
// errors (as the Kubernetes API refuses them), with the path of the node.
absl::StatusOr<LabelSelector> ParseLabelSelector(const YAML::Node& node);
absl::StatusOr<PodSelector> ParsePodSelector(const YAML::Node& node);
absl::StatusOr<std::vector<PodSelector>> ParsePodSelectors(const YAML::Node& node);

}  // namespace taogate::k8s
