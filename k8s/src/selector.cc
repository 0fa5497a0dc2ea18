// Label selectors: validation per apimachinery's IsQualifiedName /
// IsValidLabelValue, matching per labels.Selector.
#include "taogate/k8s/selector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "split.h"

namespace taogate::k8s {
namespace {

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63.
bool IsNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// RFC 1123 subdomain: dot-separated labels, at most 253.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (std::string_view label : Split(s, '.')) {
    if (!IsDnsLabel(label)) return false;
  }
  return true;
}

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": ", what));
}

absl::Status ValidateRequirement(const Requirement& r) {
  TG_RETURN_IF_ERROR(ValidateLabelKey(r.key));
  const bool set_op = r.op == SelectorOp::kIn || r.op == SelectorOp::kNotIn;
  if (set_op && r.values.empty()) {
    return Invalid(r.key, "In and NotIn need at least one value");
  }
  if (!set_op && !r.values.empty()) {
    return Invalid(r.key, "Exists and DoesNotExist take no values");
  }
  for (const std::string& v : r.values) TG_RETURN_IF_ERROR(ValidateLabelValue(v));
  return absl::OkStatus();
}

bool Holds(const Requirement& r, const Labels& labels) {
  auto it = labels.find(r.key);
  const bool has = it != labels.end();
  auto listed = [&] {
    return has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
  };
  switch (r.op) {
    case SelectorOp::kIn: return listed();
    case SelectorOp::kNotIn: return !listed();
    case SelectorOp::kExists: return has;
    case SelectorOp::kDoesNotExist: return !has;
  }
  return false;
}

}  // namespace

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

absl::Status ValidateLabelKey(std::string_view key) {
  std::string_view name = key;
  if (size_t slash = key.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!IsDnsSubdomain(prefix)) {
      return Invalid(StrCat("label key '", key, "'"),
                     "prefix must be a DNS-1123 subdomain (lowercase, at most 253 chars)");
    }
  }
  if (!IsNamePart(name)) {
    return Invalid(StrCat("label key '", key, "'"),
                   "name must be 1-63 chars of [A-Za-z0-9_.-], alphanumeric at both ends");
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelValue(std::string_view value) {
  if (value.empty() || IsNamePart(value)) return absl::OkStatus();
  return Invalid(StrCat("label value '", value, "'"),
                 "must be empty or 1-63 chars of [A-Za-z0-9_.-], alphanumeric at both ends");
}

absl::StatusOr<LabelSelector> LabelSelector::Make(Labels match_labels,
                                                  std::vector<Requirement> expressions) {
  for (const auto& [k, v] : match_labels) {
    TG_RETURN_IF_ERROR(ValidateLabelKey(k));
    TG_RETURN_IF_ERROR(ValidateLabelValue(v));
  }
  for (const Requirement& r : expressions) TG_RETURN_IF_ERROR(ValidateRequirement(r));
  LabelSelector s;
  s.match_labels_ = std::move(match_labels);
  s.expressions_ = std::move(expressions);
  return s;
}

LabelSelector LabelSelector::Nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

bool LabelSelector::Matches(const Labels& labels) const {
  if (nothing_) return false;
  for (const auto& [k, v] : match_labels_) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return std::all_of(expressions_.begin(), expressions_.end(),
                     [&](const Requirement& r) { return Holds(r, labels); });
}

bool PodSelector::Governs(const Pod& pod, const Namespace& ns) const {
  if (pod.namespace_name != ns.name) return false;
  if (!namespace_selector.Matches(ns.labels) || !pod_selector.Matches(pod.labels)) return false;
  if (service_accounts.empty()) return true;
  // The API server defaults serviceAccountName to "default"; be explicit.
  const std::string sa = pod.service_account.empty() ? "default" : pod.service_account;
  const std::string qualified = StrCat(pod.namespace_name, "/", sa);
  return std::any_of(service_accounts.begin(), service_accounts.end(),
                     [&](const std::string& s) { return s == sa || s == qualified; });
}

bool AnyGoverns(const std::vector<PodSelector>& selectors, const Pod& pod, const Namespace& ns) {
  return std::any_of(selectors.begin(), selectors.end(),
                     [&](const PodSelector& s) { return s.Governs(pod, ns); });
}

absl::Status ValidateServiceAccountRef(std::string_view ref) {
  std::string_view name = ref;
  if (size_t slash = ref.find('/'); slash != std::string_view::npos) {
    if (!IsDnsLabel(ref.substr(0, slash))) {
      return Invalid(StrCat("service account '", ref, "'"),
                     "namespace must be a DNS-1123 label");
    }
    name = ref.substr(slash + 1);
  }
  if (!IsDnsSubdomain(name)) {
    return Invalid(StrCat("service account '", ref, "'"),
                   "name must be a DNS-1123 subdomain");
  }
  return absl::OkStatus();
}

}  // namespace taogate::k8s
