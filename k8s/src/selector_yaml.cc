// Selectors from the policy bundle's YAML. Strict: a typo such as
// `matchLabel` must be an error, not a selector that matches everything.
#include <regex>
#include <set>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/selector.h"

namespace taogate::k8s {
namespace {

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": ", what));
}

absl::Status OnlyKeys(const YAML::Node& map, std::string_view where,
                      const std::set<std::string>& allowed) {
  if (!map.IsMap()) return Invalid(where, "is not a map");
  for (const auto& kv : map) {
    if (!kv.first.IsScalar() || !allowed.contains(kv.first.Scalar())) {
      return Invalid(where, StrCat("unknown key '",
                                         kv.first.IsScalar() ? kv.first.Scalar() : "?", "'"));
    }
  }
  return absl::OkStatus();
}

// A string as Kubernetes would decode it: a plain scalar YAML resolves to a
// bool, number or null is not one (the API server refuses `app: true`).
absl::StatusOr<std::string> String(const YAML::Node& n, std::string_view where) {
  if (!n.IsScalar()) return Invalid(where, "is not a string");
  const std::string& s = n.Scalar();
  if (n.Tag() == "?") {
    static const std::set<std::string> kNonStrings = {
        "true", "false", "True", "False", "TRUE", "FALSE", "yes", "no", "Yes", "No",
        "YES", "NO", "on", "off", "On", "Off", "ON", "OFF", "y", "n", "Y", "N",
        "null", "Null", "NULL", "~", ""};
    static const std::regex kNumber(
        R"([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o[0-7_]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");
    const bool number = std::regex_match(s, kNumber);
    if (kNonStrings.contains(s) || number) {
      return Invalid(where, StrCat("'", s, "' is not a string in YAML; quote it"));
    }
  }
  return s;
}

absl::StatusOr<std::vector<std::string>> Strings(const YAML::Node& n, std::string_view where) {
  if (!n) return std::vector<std::string>{};
  if (!n.IsSequence()) return Invalid(where, "is not a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    TG_ASSIGN_OR_RETURN(std::string s, String(n[i], StrCat(where, "[", i, "]")));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<SelectorOp> Op(const YAML::Node& n, std::string_view where) {
  if (!n) return Invalid(where, "has no operator");
  TG_ASSIGN_OR_RETURN(std::string op, String(n, where));
  if (op == "In") return SelectorOp::kIn;
  if (op == "NotIn") return SelectorOp::kNotIn;
  if (op == "Exists") return SelectorOp::kExists;
  if (op == "DoesNotExist") return SelectorOp::kDoesNotExist;
  return Invalid(where, StrCat("unknown operator '", op,
                                     "' (In, NotIn, Exists, DoesNotExist)"));
}

absl::StatusOr<LabelSelector> Selector(const YAML::Node& node, const std::string& where) {
  if (node.IsNull()) return LabelSelector::Nothing();
  TG_RETURN_IF_ERROR(OnlyKeys(node, where, {"matchLabels", "matchExpressions"}));
  Labels labels;
  if (const YAML::Node ml = node["matchLabels"]) {
    const std::string at = where + ".matchLabels";
    if (!ml.IsMap()) return Invalid(at, "is not a map");
    for (const auto& kv : ml) {
      TG_ASSIGN_OR_RETURN(std::string k, String(kv.first, at));
      TG_ASSIGN_OR_RETURN(std::string v, String(kv.second, StrCat(at, ".", k)));
      labels[k] = std::move(v);
    }
  }
  std::vector<Requirement> reqs;
  if (const YAML::Node me = node["matchExpressions"]) {
    if (!me.IsSequence()) return Invalid(where + ".matchExpressions", "is not a list");
    for (size_t i = 0; i < me.size(); ++i) {
      const std::string at = StrCat(where, ".matchExpressions[", i, "]");
      TG_RETURN_IF_ERROR(OnlyKeys(me[i], at, {"key", "operator", "values"}));
      if (!me[i]["key"]) return Invalid(at, "has no key");
      Requirement r;
      TG_ASSIGN_OR_RETURN(r.key, String(me[i]["key"], at + ".key"));
      TG_ASSIGN_OR_RETURN(r.op, Op(me[i]["operator"], at + ".operator"));
      TG_ASSIGN_OR_RETURN(r.values, Strings(me[i]["values"], at + ".values"));
      reqs.push_back(std::move(r));
    }
  }
  absl::StatusOr<LabelSelector> s = LabelSelector::Make(std::move(labels), std::move(reqs));
  if (!s.ok()) return Invalid(where, std::string(s.status().message()));
  return s;
}

absl::StatusOr<PodSelector> Pods(const YAML::Node& node, const std::string& where) {
  TG_RETURN_IF_ERROR(
      OnlyKeys(node, where, {"namespaceSelector", "podSelector", "serviceAccounts"}));
  PodSelector out;
  for (auto [key, field] : {std::pair{"namespaceSelector", &out.namespace_selector},
                            std::pair{"podSelector", &out.pod_selector}}) {
    const YAML::Node n = node[key];
    const std::string at = StrCat(where, ".", key);
    if (!n || n.IsNull()) {
      return Invalid(at, "is required (write {} to match everything)");
    }
    TG_ASSIGN_OR_RETURN(*field, Selector(n, at));
  }
  const std::string at = where + ".serviceAccounts";
  TG_ASSIGN_OR_RETURN(out.service_accounts, Strings(node["serviceAccounts"], at));
  for (const std::string& sa : out.service_accounts) {
    absl::Status st = ValidateServiceAccountRef(sa);
    if (!st.ok()) return Invalid(at, std::string(st.message()));
  }
  return out;
}

}  // namespace

absl::StatusOr<LabelSelector> ParseLabelSelector(const YAML::Node& node) {
  return Selector(node, "selector");
}

absl::StatusOr<PodSelector> ParsePodSelector(const YAML::Node& node) { return Pods(node, "pod selector"); }

absl::StatusOr<std::vector<PodSelector>> ParsePodSelectors(const YAML::Node& node) {
  if (!node.IsSequence()) return Invalid("pod selectors", "not a list");
  std::vector<PodSelector> out;
  for (size_t i = 0; i < node.size(); ++i) {
    TG_ASSIGN_OR_RETURN(PodSelector s, Pods(node[i], StrCat("pod selectors[", i, "]")));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace taogate::k8s
