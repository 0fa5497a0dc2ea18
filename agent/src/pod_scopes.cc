// PodClassifier's kill-switch scopes (pod_classifier.h: PodScope).
#include "taogate/agent/pod_classifier.h"

#include <vector>

#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {

constexpr std::string_view kPod = "pod:", kNamespace = "namespace:", kSelector = "selector:";

absl::Status CheckDnsLabel(std::string_view what, std::string_view v) {
  bool ok = !v.empty() && v.size() <= 253;
  for (char c : v) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
  if (!ok) return absl::InvalidArgumentError(StrCat("bad ", what, " '", v, "'"));
  return absl::OkStatus();
}

absl::StatusOr<k8s::LabelSelector> ParseEqualitySelector(std::string_view text) {
  k8s::Labels eq;
  std::vector<k8s::Requirement> reqs;
  std::vector<std::string_view> terms;
  for (size_t at = 0;;) {
    size_t comma = text.find(',', at);
    terms.push_back(text.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at));
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  for (std::string_view term : terms) {
    if (term.empty()) return absl::InvalidArgumentError("selector: empty term");
    size_t ne = term.find("!=");
    size_t e = term.find('=');
    if (ne != std::string_view::npos) {
      reqs.push_back({std::string(term.substr(0, ne)), k8s::SelectorOp::kNotIn, {std::string(term.substr(ne + 2))}});
    } else if (e != std::string_view::npos) {
      std::string_view v = term.substr(e + (term.substr(e, 2) == "==" ? 2 : 1));
      if (!eq.emplace(std::string(term.substr(0, e)), std::string(v)).second)
        return absl::InvalidArgumentError(StrCat("selector: key ", term.substr(0, e), " twice"));
    } else if (term[0] == '!') {
      reqs.push_back({std::string(term.substr(1)), k8s::SelectorOp::kDoesNotExist, {}});
    } else {
      reqs.push_back({std::string(term), k8s::SelectorOp::kExists, {}});
    }
  }
  return k8s::LabelSelector::Make(std::move(eq), std::move(reqs));
}

}  // namespace

bool IsPodScope(std::string_view t) {
  return t.substr(0, kPod.size()) == kPod || t.substr(0, kNamespace.size()) == kNamespace ||
         t.substr(0, kSelector.size()) == kSelector;
}

absl::StatusOr<PodScope> ParsePodScope(std::string_view t) {
  PodScope s;
  s.label = std::string(t);
  if (t.substr(0, kPod.size()) == kPod) {
    std::string_view rest = t.substr(kPod.size());
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return absl::InvalidArgumentError("pod scope: pod:NAMESPACE/NAME");
    s.namespace_name = std::string(rest.substr(0, slash));
    s.pod_name = std::string(rest.substr(slash + 1));
    TG_RETURN_IF_ERROR(CheckDnsLabel("namespace", s.namespace_name));
    TG_RETURN_IF_ERROR(CheckDnsLabel("pod name", s.pod_name));
    return s;
  }
  if (t.substr(0, kNamespace.size()) == kNamespace) {
    s.namespace_name = std::string(t.substr(kNamespace.size()));
    TG_RETURN_IF_ERROR(CheckDnsLabel("namespace", s.namespace_name));
    return s;
  }
  if (t.substr(0, kSelector.size()) == kSelector) {
    TG_ASSIGN_OR_RETURN(s.labels, ParseEqualitySelector(t.substr(kSelector.size())));
    return s;
  }
  return absl::InvalidArgumentError(StrCat("not a pod scope: ", t));
}

bool PodScope::Matches(const k8s::Pod& pod) const {
  if (labels) return labels->Matches(pod.labels);
  if (pod.namespace_name != namespace_name) return false;
  return pod_name.empty() || pod.name == pod_name;
}

absl::StatusOr<size_t> PodClassifier::EngageScope(const PodScope& scope, bool kill) {
  std::lock_guard lock(mu_);
  scopes_[scope.label] = {scope, kill};
  size_t matched = 0;
  for (const auto& [uid, pod] : pods_) {
    if (!scope.Matches(pod)) continue;
    auto dir = by_uid_.find(uid);
    if (dir == by_uid_.end()) continue;
    ++matched;
    TG_RETURN_IF_ERROR(kernel_.Quarantine(dir->second, kill));
    scope_quarantined_[dir->second] = kill;
  }
  return matched;
}

absl::StatusOr<size_t> PodClassifier::ReleaseScope(const std::string& label) {
  std::lock_guard lock(mu_);
  auto it = scopes_.find(label);
  if (it == scopes_.end()) return absl::NotFoundError(StrCat("kill switch scope ", label, " is not engaged"));
  PodScope released = std::move(it->second.scope);
  scopes_.erase(it);
  size_t lifted = 0;
  for (const auto& [uid, pod] : pods_) {
    auto dir = by_uid_.find(uid);
    if (dir == by_uid_.end() || !released.Matches(pod)) continue;
    bool still = false;
    for (const auto& [l, e] : scopes_) still = still || e.scope.Matches(pod);
    if (still) continue;
    TG_RETURN_IF_ERROR(kernel_.Release(dir->second));
    scope_quarantined_.erase(dir->second);
    ++lifted;
  }
  return lifted;
}

std::vector<std::string> PodClassifier::EngagedScopes() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [label, e] : scopes_) out.push_back(label);
  return out;
}

void PodClassifier::ApplyScopesLocked(const std::string& uid) {
  auto pod = pods_.find(uid);
  auto dir = by_uid_.find(uid);
  if (pod == pods_.end() || dir == by_uid_.end()) return;
  bool match = false, kill = false;
  for (const auto& [label, e] : scopes_) {
    if (!e.scope.Matches(pod->second)) continue;
    match = true;
    kill = kill || e.kill;
  }
  if (!match) return;
  auto q = scope_quarantined_.find(dir->second);
  if (q != scope_quarantined_.end() && (q->second || !kill)) return;
  if (absl::Status st = kernel_.Quarantine(dir->second, kill); !st.ok()) {
    ++counts_.kernel_errors_total;
    log::Error("kill switch scope not applied to a new pod",
               {{"pod_uid", uid}, {"error", std::string(st.message())}});
    return;
  }
  scope_quarantined_[dir->second] = kill;
  log::Warn("kill switch scope applied to a pod", {{"pod_uid", uid}, {"namespace", pod->second.namespace_name},
                                                  {"pod", pod->second.name}});
}

}  // namespace taogate::agent
