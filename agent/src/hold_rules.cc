#include "taogate/agent/hold_rules.h"

#include <algorithm>

#include "taogate/common/hex.h"
#include "taogate/common/path.h"
#include "taogate/common/strings.h"
#include "taogate/tao/codec.h"

namespace taogate::agent {
namespace {

bool IsId(const std::string& s) {
  return !s.empty() && s.size() <= 128 && std::isalnum(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-';
         });
}

}  // namespace

absl::Status CheckBundleWorkload(const v1::HoldWorkload& w) {
  if (!IsId(w.id())) return absl::InvalidArgumentError("workload id");
  if (w.nodes().empty() && w.cgroup_paths().empty() && w.exe_paths().empty() && w.exe_sha256().empty() &&
      w.namespaces().empty() && w.service_accounts().empty() && w.pod_labels().empty())
    return absl::InvalidArgumentError(StrCat("workload ", w.id(), " has no selector"));
  for (const auto& p : w.cgroup_paths())
    if (!tao::IsCanonicalCgroupPath(p)) return absl::InvalidArgumentError(StrCat("cgroup path ", p));
  for (const auto& p : w.exe_paths())
    if (p.empty() || p[0] != '/') return absl::InvalidArgumentError(StrCat("exe path ", p));
  for (const auto& h : w.exe_sha256())
    if (h.size() != 64 || !IsLowerHex(h)) return absl::InvalidArgumentError("exe_sha256");
  return absl::OkStatus();
}

namespace {

template <typename List>
bool AnyOf(const List& list, const std::string& v, bool (*eq)(const std::string&, const std::string&)) {
  return list.empty() || std::any_of(list.begin(), list.end(), [&](const std::string& x) { return eq(v, x); });
}

}  // namespace

bool WorkloadMatches(const v1::HoldWorkload& w, const v1::AttestedWorkload& f) {
  auto equal = [](const std::string& v, const std::string& x) { return !v.empty() && v == x; };
  auto under = [](const std::string& v, const std::string& x) { return !v.empty() && PathUnder(v, x); };
  const std::string sa = f.service_account().empty() ? "" : StrCat(f.namespace_(), "/", f.service_account());
  for (const auto& [k, v] : w.pod_labels()) {
    auto it = f.pod_labels().find(k);
    if (it == f.pod_labels().end() || it->second != v) return false;
  }
  return AnyOf(w.nodes(), f.node_id(), equal) && AnyOf(w.cgroup_paths(), f.cgroup_path(), under) &&
         AnyOf(w.exe_paths(), f.exe_path(), equal) && AnyOf(w.exe_sha256(), f.exe_sha256(), equal) &&
         AnyOf(w.namespaces(), f.namespace_(), equal) && AnyOf(w.service_accounts(), sa, equal);
}

std::string FirstMatch(const std::vector<v1::HoldWorkload>& workloads, const v1::AttestedWorkload& facts) {
  for (const v1::HoldWorkload& w : workloads)
    if (WorkloadMatches(w, facts)) return w.id();
  return "";
}

absl::Status ValidateHoldRules(const v1::ProtectedTargets& msg) {
  for (int i = 0; i < msg.hold_size(); ++i) {
    const v1::HoldRule& r = msg.hold(i);
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(StrCat("hold rule ", i, " (", r.id(), "): ", why));
    };
    if (!IsId(r.id())) return bad("id");
    if (!IsId(r.action_class())) return bad("action_class");
    if (r.max_hold_ms() < kMinHoldMs || r.max_hold_ms() > kMaxHoldMs) return bad("max_hold_ms out of range");
    if (r.all_workloads() == (r.workloads_size() > 0)) return bad("workloads: \"*\" or a list, not both or neither");
    if (r.all_targets() == (r.targets_size() > 0)) return bad("targets: \"*\" or a list, not both or neither");
    for (const auto& w : r.workloads())
      if (absl::Status st = CheckBundleWorkload(w); !st.ok()) return bad(std::string(st.message()));
    for (const auto& t : r.targets())
      if (!IsId(t)) return bad("target id");
  }
  return absl::OkStatus();
}

std::optional<HoldChoice> ChooseHold(const std::vector<v1::HoldRule>& rules, const std::set<std::string>& target_ids,
                                     const v1::AttestedWorkload& facts, int64_t node_max_hold_ms) {
  if (target_ids.empty()) return std::nullopt;  // not protected by any named target
  for (const v1::HoldRule& r : rules) {
    const bool workload = r.all_workloads() || std::any_of(r.workloads().begin(), r.workloads().end(),
                                                           [&](const auto& w) { return WorkloadMatches(w, facts); });
    const bool target = r.all_targets() || std::any_of(r.targets().begin(), r.targets().end(),
                                                       [&](const std::string& t) { return target_ids.count(t) > 0; });
    if (workload && target)
      return HoldChoice{r.id(), r.action_class(), std::min<int64_t>(r.max_hold_ms(), node_max_hold_ms)};
  }
  return std::nullopt;
}

}  // namespace taogate::agent
