#include "attest.h"

#include <algorithm>

#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/selector.h"
#include "taogate/tao/codec.h"
#include "taogate/target/target.h"

namespace taogate::governance::internal {
namespace {

constexpr std::string_view kScheme = "spiffe://";
constexpr size_t kMaxPodLabels = 256;

bool Clean(std::string_view s) {
  return std::none_of(s.begin(), s.end(),
                      [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

absl::Status Invalid(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("attested.", field, " ", why));
}

// The facts a policy can select on, checked before anything is derived
// from them (the binding itself is checked by ValidateCommon).
absl::Status CheckFacts(const v1::AttestedWorkload& a) {
  if (!tao::IsCanonicalCgroupPath(a.cgroup_path()))
    return Invalid("cgroup_path", "must be an absolute canonical cgroup path");
  const bool k8s = !a.namespace_().empty() || !a.service_account().empty();
  if (k8s) {
    if (a.namespace_().empty() || a.service_account().empty())
      return Invalid("namespace", "and attested.service_account go together");
    if (auto s = k8s::ValidateServiceAccountRef(StrCat(a.namespace_(), "/", a.service_account()));
        !s.ok())
      return Invalid("service_account",
                     StrCat("is not a namespace/name: ", std::string(s.message())));
  }
  if (a.pod_name().size() > 253 || !Clean(a.pod_name()))
    return Invalid("pod_name", "is not a pod name");
  if (a.pod_labels_size() > static_cast<int>(kMaxPodLabels))
    return Invalid("pod_labels", StrCat("has more than ", kMaxPodLabels, " labels"));
  for (const auto& [k, v] : a.pod_labels()) {
    if (auto s = k8s::ValidateLabelKey(k); !s.ok())
      return Invalid("pod_labels", std::string(s.message()));
    if (auto s = k8s::ValidateLabelValue(v); !s.ok())
      return Invalid("pod_labels", std::string(s.message()));
  }
  if (!a.exe_path().empty() && !target::IsCanonicalPath(a.exe_path(), false))
    return Invalid("exe_path", "must be an absolute canonical path");
  if (!a.exe_sha256().empty() && (a.exe_sha256().size() != 64 || !IsLowerHex(a.exe_sha256())))
    return Invalid("exe_sha256", "must be 64 lowercase hex digits");
  return absl::OkStatus();
}

}  // namespace

std::optional<NodeIdentity> ParseNodeIdentity(std::string_view uri,
                                              std::string_view trust_domain) {
  if (!uri.starts_with(kScheme)) return std::nullopt;
  uri.remove_prefix(kScheme.size());
  size_t slash = uri.find('/');
  if (slash == 0 || slash == std::string_view::npos) return std::nullopt;
  NodeIdentity n{std::string(uri.substr(0, slash)), {}};
  std::string_view rest = uri.substr(slash);
  constexpr std::string_view kNode = "/node/";
  if (!rest.starts_with(kNode)) return std::nullopt;
  rest.remove_prefix(kNode.size());
  if (rest.empty() || rest.size() > tao::kMaxNodeIdBytes || !Clean(rest) ||
      rest.find_first_of("/?#") != std::string_view::npos || !Clean(n.trust_domain))
    return std::nullopt;
  if (!trust_domain.empty() && n.trust_domain != trust_domain) return std::nullopt;
  n.node_id = std::string(rest);
  return n;
}

std::string DerivedActor(std::string_view trust_domain, const v1::AttestedWorkload& a) {
  if (!a.namespace_().empty() && !a.service_account().empty())
    return StrCat(kScheme, trust_domain, "/ns/", a.namespace_(), "/sa/", a.service_account());
  return StrCat(kScheme, trust_domain, "/node/", a.node_id(), "/cgroup", a.cgroup_path());
}

v1::WorkloadBinding ClaimedBinding(const v1::AttestedWorkload& a) {
  v1::WorkloadBinding b;
  b.set_node_id(a.node_id());
  b.set_cgroup_id(a.cgroup_id());
  b.set_pod_uid(a.pod_uid());
  return b;
}

absl::StatusOr<Attestation> Attest(std::string_view caller, const v1::AttestedWorkload& a,
                                   std::string_view trust_domain) {
  auto node = ParseNodeIdentity(caller, trust_domain);
  if (!node) return absl::PermissionDeniedError(kNotANode);
  if (a.node_id() != node->node_id)
    return absl::PermissionDeniedError(
        StrCat("node ", node->node_id, " attested a workload of node ", a.node_id()));
  if (auto s = CheckFacts(a); !s.ok()) return s;
  Attestation out;
  out.actor = DerivedActor(node->trust_domain, a);
  out.binding = ClaimedBinding(a);
  out.binding.set_workload_path(a.cgroup_path());
  policies::WorkloadAttributes& w = out.attributes;
  w.node = a.node_id();
  w.cgroup_path = a.cgroup_path();
  for (const auto& [k, v] : a.pod_labels()) w.pod_labels[k] = v;
  w.attested = true;
  w.k8s_namespace = a.namespace_();
  w.service_account = a.service_account();
  w.exe_path = a.exe_path();
  w.exe_sha256 = a.exe_sha256();
  return out;
}

}  // namespace taogate::governance::internal
