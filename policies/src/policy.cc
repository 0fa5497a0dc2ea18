// Policy: load, evaluate, break-glass and approval checks over Compiled.
#include "taogate/policies/policy.h"

#include <algorithm>

#include "compiled.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::policies {

std::string_view EffectName(Effect e) {
  switch (e) {
    case Effect::kPermit: return "PERMIT";
    case Effect::kDeny: return "DENY";
    case Effect::kRequireApproval: return "REQUIRE_APPROVAL";
  }
  return "DENY";
}

bool WorkloadMatches(const WorkloadDef& w, const WorkloadAttributes& a) {
  if (!w.nodes.empty() && std::find(w.nodes.begin(), w.nodes.end(), a.node) == w.nodes.end()) {
    return false;
  }
  if (!w.cgroup_paths.empty()) {
    bool any = std::any_of(w.cgroup_paths.begin(), w.cgroup_paths.end(),
                           [&](const std::string& p) { return PathUnder(a.cgroup_path, p); });
    if (!any) return false;
  }
  for (const auto& [k, v] : w.pod_labels) {
    auto it = a.pod_labels.find(k);
    if (it == a.pod_labels.end() || it->second != v) return false;
  }
  if (!w.AttestedOnly()) return true;
  if (!a.attested) return false;  // never from what a requester declares
  auto in = [](const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || (!v.empty() && std::find(list.begin(), list.end(), v) != list.end());
  };
  const std::string sa =
      a.service_account.empty() ? "" : StrCat(a.k8s_namespace, "/", a.service_account);
  return in(w.namespaces, a.k8s_namespace) && in(w.service_accounts, sa) &&
         in(w.exe_paths, a.exe_path) && in(w.exe_sha256, a.exe_sha256);
}

namespace {

void Append(const StringMap<std::vector<Index>>& m, std::string_view key, std::vector<Index>& out) {
  auto it = m.find(key);
  if (it != m.end()) out.insert(out.end(), it->second.begin(), it->second.end());
}

// Calls f(prefix) for "/a/b/c", "/a/b", "/a", "/".
template <typename F>
void ForEachAncestor(std::string_view path, F&& f) {
  while (!path.empty()) {
    f(path);
    if (path == "/") return;
    size_t slash = path.rfind('/');
    path = slash == 0 ? std::string_view("/") : path.substr(0, slash);
  }
}

void SortUnique(std::vector<Index>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

bool Policy::Compiled::ResolveTarget(const TargetRef& t, std::vector<Index>& out) const {
  switch (t.kind) {
    case TargetKind::kTcp:
    case TargetKind::kUdp: {
      if (!t.host_name.empty()) {  // a name matches only entries naming it
        if (!target::CheckCanonicalHostName(t.host_name).ok() || !t.address.empty() || t.port == 0) return false;
        bool tcp = t.kind == TargetKind::kTcp;
        auto it = names.find(t.host_name);
        if (it != names.end())
          for (const NetEntry& e : it->second)
            if (t.port >= e.port_lo && t.port <= e.port_hi && (tcp ? e.tcp : e.udp)) out.push_back(e.target);
        break;
      }
      auto ip = ParseIp(t.address);
      if (!ip.ok() || t.port == 0) return false;
      bool tcp = t.kind == TargetKind::kTcp;
      for (const PrefixTable& table : ip->family == 4 ? v4 : v6) {
        auto it = table.nets.find(MaskedKey(ip->bytes, table.len));
        if (it == table.nets.end()) continue;
        for (const NetEntry& e : it->second) {
          if (t.port >= e.port_lo && t.port <= e.port_hi && (tcp ? e.tcp : e.udp)) {
            out.push_back(e.target);
          }
        }
      }
      break;
    }
    case TargetKind::kUnix:
    case TargetKind::kExec:
    case TargetKind::kFile:
      if (!IsCanonicalPath(t.path, false)) return false;
      if (t.kind == TargetKind::kUnix) Append(unix_paths, t.path, out);
      if (t.kind == TargetKind::kExec) Append(exec_paths, t.path, out);
      if (t.kind == TargetKind::kFile) {
        Append(file_paths, t.path, out);
        ForEachAncestor(t.path, [&](std::string_view p) { Append(file_dirs, p, out); });
      }
      break;
  }
  SortUnique(out);
  return true;
}

void Policy::Compiled::ResolveWorkloads(const WorkloadAttributes& w, std::vector<Index>& out) const {
  std::vector<Index> cand;
  if (!w.cgroup_path.empty() && w.cgroup_path[0] == '/') {
    ForEachAncestor(w.cgroup_path, [&](std::string_view p) { Append(wl_by_cgroup, p, cand); });
  }
  if (!w.node.empty()) Append(wl_by_node, w.node, cand);
  for (const auto& [k, v] : w.pod_labels) Append(wl_by_label, StrCat(k, "=", v), cand);
  if (w.attested) {
    if (!w.k8s_namespace.empty()) Append(wl_by_attested, StrCat("ns:", w.k8s_namespace), cand);
    if (!w.service_account.empty())
      Append(wl_by_attested, StrCat("sa:", w.k8s_namespace, "/", w.service_account), cand);
    if (!w.exe_path.empty()) Append(wl_by_attested, StrCat("exe:", w.exe_path), cand);
    if (!w.exe_sha256.empty()) Append(wl_by_attested, StrCat("sha:", w.exe_sha256), cand);
  }
  SortUnique(cand);
  for (Index i : cand) {
    if (WorkloadMatches(bundle.workloads[i], w)) out.push_back(i);
  }
}

Policy::Policy(std::unique_ptr<Compiled> c) : c_(std::move(c)) {}
Policy::~Policy() = default;

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Load(std::string_view bytes,
                                                           std::string_view file_name,
                                                           std::vector<ValidationError>* errors) {
  auto bundle = ParseBundle(bytes, file_name, errors);
  if (!bundle.ok()) return bundle.status();
  return std::make_shared<const Policy>(Compile(std::move(*bundle), crypto::Sha256(bytes)));
}

absl::StatusOr<std::shared_ptr<const Policy>> Policy::LoadFile(
    const std::string& path, std::vector<ValidationError>* errors) {
  std::string bytes;
  TG_RETURN_IF_ERROR(ReadBundleFile(path, &bytes));
  return Load(bytes, path, errors);
}

const Bundle& Policy::bundle() const { return c_->bundle; }
const BundleHash& Policy::hash() const { return c_->hash; }
std::string Policy::HashHex() const { return ToHex(c_->hash); }
const RateLimitConfig& Policy::rate_limits() const { return c_->bundle.rate_limits; }

}  // namespace taogate::policies
