// PodSelector <-> v1::GovernedPodSelector; validation is LabelSelector::Make's
// and ValidateServiceAccountRef's, the same as for the bundle's YAML.
#include "taogate/k8s/selector_proto.h"

#include <string>
#include <utility>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::k8s {
namespace {

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": ", what));
}

// `st` with `where` in front of its message.
absl::Status At(std::string_view where, const absl::Status& st) {
  return Invalid(where, std::string(st.message()));
}

absl::StatusOr<SelectorOp> ParseOp(std::string_view op) {
  for (SelectorOp o :
       {SelectorOp::kIn, SelectorOp::kNotIn, SelectorOp::kExists, SelectorOp::kDoesNotExist}) {
    if (op == OperatorName(o)) return o;
  }
  return absl::InvalidArgumentError(
      StrCat("unknown operator '", op, "' (In, NotIn, Exists, DoesNotExist)"));
}

absl::StatusOr<LabelSelector> Selector(bool has, const v1::LabelSelector& field,
                                       std::string_view name) {
  if (!has) return Invalid(name, "is required (an empty selector {} matches everything)");
  absl::StatusOr<LabelSelector> out = FromProto(field);
  if (!out.ok()) return At(name, out.status());
  return out;
}

}  // namespace

std::string_view OperatorName(SelectorOp op) {
  switch (op) {
    case SelectorOp::kIn:
      return "In";
    case SelectorOp::kNotIn:
      return "NotIn";
    case SelectorOp::kExists:
      return "Exists";
    case SelectorOp::kDoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

absl::StatusOr<LabelSelector> FromProto(const v1::LabelSelector& s) {
  Labels labels(s.match_labels().begin(), s.match_labels().end());
  std::vector<Requirement> reqs;
  for (int i = 0; i < s.match_expressions_size(); ++i) {
    const v1::LabelRequirement& e = s.match_expressions(i);
    absl::StatusOr<SelectorOp> op = ParseOp(e.operator_());
    if (!op.ok()) return At(StrCat("match_expressions[", i, "].operator"), op.status());
    reqs.push_back({e.key(), *op, {e.values().begin(), e.values().end()}});
  }
  return LabelSelector::Make(std::move(labels), std::move(reqs));
}

absl::StatusOr<PodSelector> FromProto(const v1::GovernedPodSelector& s) {
  PodSelector out;
  TG_ASSIGN_OR_RETURN(
      out.namespace_selector,
      Selector(s.has_namespace_selector(), s.namespace_selector(), "namespace_selector"));
  TG_ASSIGN_OR_RETURN(out.pod_selector,
                      Selector(s.has_pod_selector(), s.pod_selector(), "pod_selector"));
  for (int i = 0; i < s.service_accounts_size(); ++i) {
    absl::Status st = ValidateServiceAccountRef(s.service_accounts(i));
    if (!st.ok()) return At(StrCat("service_accounts[", i, "]"), st);
    out.service_accounts.push_back(s.service_accounts(i));
  }
  return out;
}

absl::StatusOr<std::vector<PodSelector>> FromProto(
    const google::protobuf::RepeatedPtrField<v1::GovernedPodSelector>& list) {
  if (static_cast<size_t>(list.size()) > kMaxGovernedPodSelectors) {
    return Invalid("governed_pods", StrCat(list.size(), " entries, more than the ",
                                           kMaxGovernedPodSelectors, " allowed"));
  }
  std::vector<PodSelector> out;
  out.reserve(static_cast<size_t>(list.size()));
  for (int i = 0; i < list.size(); ++i) {
    absl::StatusOr<PodSelector> s = FromProto(list.Get(i));
    if (!s.ok()) return At(StrCat("governed_pods[", i, "]"), s.status());
    out.push_back(*std::move(s));
  }
  return out;
}

v1::LabelSelector ToProto(const LabelSelector& s) {
  v1::LabelSelector out;
  for (const auto& [k, v] : s.match_labels()) (*out.mutable_match_labels())[k] = v;
  for (const Requirement& r : s.expressions()) {
    v1::LabelRequirement* e = out.add_match_expressions();
    e->set_key(r.key);
    e->set_operator_(std::string(OperatorName(r.op)));
    for (const std::string& v : r.values) e->add_values(v);
  }
  return out;
}

v1::GovernedPodSelector ToProto(const PodSelector& s) {
  v1::GovernedPodSelector out;
  if (!s.namespace_selector.matches_nothing()) {
    *out.mutable_namespace_selector() = ToProto(s.namespace_selector);
  }
  if (!s.pod_selector.matches_nothing()) *out.mutable_pod_selector() = ToProto(s.pod_selector);
  for (const std::string& sa : s.service_accounts) out.add_service_accounts(sa);
  return out;
}

}  // namespace taogate::k8s
