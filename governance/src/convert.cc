#include "convert.h"

#include <algorithm>
#include <map>

#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/governance/governor_format.h"
#include "taogate/tao/codec.h"
#include "taogate/target/target_proto.h"

namespace taogate::governance::internal {
namespace {

bool Clean(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

absl::Status CheckText(std::string_view field, std::string_view v, size_t max, bool required) {
  if (required && v.empty()) return absl::InvalidArgumentError(StrCat(field, " is required"));
  if (v.size() > max) return absl::InvalidArgumentError(StrCat(field, " is too long"));
  if (!Clean(v)) return absl::InvalidArgumentError(StrCat(field, " contains control characters"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCommon(const v1::WorkloadBinding& b, const std::string& workload,
                            const std::string& action_class, const std::string& cgroup_path) {
  if (auto s = CheckText("binding.node_id", b.node_id(), tao::kMaxNodeIdBytes, true); !s.ok())
    return s;
  // A short or loose uid would be a fragment of unrelated cgroup names.
  if (!b.pod_uid().empty() && !tao::IsCanonicalPodUid(b.pod_uid()))
    return absl::InvalidArgumentError(
        "binding.pod_uid must be a canonical pod UID (lowercase 8-4-4-4-12 hex)");
  if (b.cgroup_id() == 0 && b.pod_uid().empty())
    return absl::InvalidArgumentError("binding needs a cgroup_id or a pod_uid");
  // The governor binds the path the policy is evaluated with; the requester
  // only declares cgroup_path.
  if (!b.workload_path().empty() && b.workload_path() != BoundWorkloadPath(cgroup_path))
    return absl::InvalidArgumentError(
        "binding.workload_path is set by the governor from cgroup_path; leave it empty");
  if (auto s = CheckText("workload", workload, 128, false); !s.ok()) return s;
  if (auto s = CheckText("action_class", action_class, tao::kMaxActionClassBytes, true); !s.ok())
    return s;
  if (!cgroup_path.empty() && !tao::IsCanonicalCgroupPath(cgroup_path))
    return absl::InvalidArgumentError(
        StrCat("cgroup_path must be an absolute canonical cgroup path (no empty, '.' or '..' "
               "components, no trailing '/', no control characters, at most ",
               tao::kMaxPathBytes, " bytes)"));
  return absl::OkStatus();
}

absl::StatusOr<CheckedRequest> CheckRequest(const v1::AuthorizationRequest& req,
                                            const v1::WorkloadBinding* attested_binding) {
  if (attested_binding != nullptr) {
    TG_RETURN_IF_ERROR(ValidateCommon(*attested_binding, req.workload(), req.action_class(),
                                      attested_binding->workload_path()));
  } else {
    TG_RETURN_IF_ERROR(
        ValidateCommon(req.binding(), req.workload(), req.action_class(), req.cgroup_path()));
    if (!req.pod_labels().empty()) return absl::InvalidArgumentError(kLabelsAttestedOnly);
  }
  TG_ASSIGN_OR_RETURN(policies::TargetRef target, ToTargetRef(req.target()));
  auto reason = policies::SanitizeReason(req.reason());
  if (!reason.ok())
    return absl::InvalidArgumentError(StrCat("reason: ", std::string(reason.status().message())));
  TG_ASSIGN_OR_RETURN(std::string annotations, AnnotationsField(req.annotations()));
  return CheckedRequest{std::move(target), *std::move(reason), std::move(annotations)};
}

absl::StatusOr<std::string> AnnotationsField(const google::protobuf::Map<std::string, std::string>& a) {
  if (a.empty()) return std::string();
  if (a.size() > kMaxAnnotations)
    return absl::InvalidArgumentError(StrCat("annotations: at most ", kMaxAnnotations));
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  auto key_char = [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-' || c == '/'; };
  std::map<std::string, std::string> sorted(a.begin(), a.end());
  crypto::Sha256Hasher h;
  std::string summaries;
  for (const auto& [k, v] : sorted) {
    if (k.empty() || k.size() > kMaxAnnotationKeyBytes || !alnum(k[0]) ||
        !std::all_of(k.begin(), k.end(), key_char))
      return absl::InvalidArgumentError(
          StrCat("annotations: key '", LedgerSafe(k, 64), "' is not 1..", kMaxAnnotationKeyBytes,
                 " of [A-Za-z0-9][A-Za-z0-9._/-]*"));
    if (v.size() > kMaxAnnotationValueBytes)
      return absl::InvalidArgumentError(
          StrCat("annotations: value of '", k, "' longer than ", kMaxAnnotationValueBytes, " bytes"));
    std::string summary;
    if (!v.empty()) {
      auto r = policies::SanitizeReason(v);
      if (!r.ok())
        return absl::InvalidArgumentError(
            StrCat("annotations: value of '", k, "': ", std::string(r.status().message())));
      summary = r->summary;
    }
    for (const std::string* part : {&k, &v}) {
      h.Update(*part);
      h.Update(std::string_view("\0", 1));
    }
    summaries += StrCat(summaries.empty() ? "" : "; ", k, "=", summary);
  }
  return LedgerSafe(StrCat("sha256:", ToHex(h.Finish()), " ", summaries), 1000);
}

std::string BoundWorkloadPath(const std::string& cgroup_path) {
  return cgroup_path.empty() ? "/" : cgroup_path;
}

v1::WorkloadBinding BindWorkload(v1::WorkloadBinding b, const std::string& cgroup_path) {
  b.set_workload_path(BoundWorkloadPath(cgroup_path));
  return b;
}

absl::StatusOr<policies::TargetRef> ToTargetRef(const v1::Target& t) {
  TG_ASSIGN_OR_RETURN(target::Target parsed, target::FromProto(t));
  if (!parsed.network() && !target::IsCanonicalPath(parsed.path, false))
    return absl::InvalidArgumentError(StrCat("target: path '", parsed.path, "' is not absolute and canonical"));
  return policies::ToTargetRef(parsed);
}

policies::WorkloadAttributes ToAttributes(const v1::WorkloadBinding& b) {
  policies::WorkloadAttributes a;
  a.node = b.node_id();
  a.cgroup_path = b.workload_path();
  return a;
}

std::string IntentHash(const std::string& decision_id, const std::string& requester,
                       const v1::WorkloadBinding& b, const std::string& workload,
                       const std::string& action, const std::string& target_text,
                       const std::string& policy_hex, int64_t ttl_s) {
  crypto::Sha256Hasher h;
  h.Update(kIntentDomain);
  for (const std::string& part :
       {decision_id, requester, b.node_id(), std::to_string(b.cgroup_id()), b.pod_uid(),
        b.workload_path(), workload, action, target_text, policy_hex, std::to_string(ttl_s)}) {
    h.Update(part);
    h.Update(std::string_view("\0", 1));
  }
  auto d = h.Finish();
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

absl::StatusOr<std::string> NewDecisionId() {
  std::array<uint8_t, 16> b{};
  if (auto s = crypto::RandomBytes(b); !s.ok()) return s;
  return ToHex(b);
}

std::string ReasonField(const policies::ReasonRecord& r) {
  return LedgerSafe(StrCat("sha256:", ToHex(r.sha256), " ", r.summary), 1000);
}

ledger::Fields RequestFields(const std::string& decision_id, const std::string& actor,
                             const v1::WorkloadBinding& b, const std::string& workload,
                             const std::string& action, const std::string& target_text,
                             const std::string& policy_hex) {
  ledger::Fields f = {{"decision_id", decision_id},
                      {"actor", LedgerSafe(actor)},
                      {"node_id", LedgerSafe(b.node_id())},
                      {"cgroup_id", std::to_string(b.cgroup_id())}};
  if (!b.pod_uid().empty()) f.emplace_back("pod_uid", LedgerSafe(b.pod_uid()));
  // The path the TAO binds, as the agent's CONSUMED records name the
  // caller's real cgroup; the declared name only for refused requests.
  if (!b.workload_path().empty())
    f.emplace_back("workload", LedgerSafe(b.workload_path(), tao::kMaxPathBytes));
  else if (!workload.empty())
    f.emplace_back("workload", LedgerSafe(workload));
  f.emplace_back("action_class", LedgerSafe(action));
  f.emplace_back("target", LedgerSafe(target_text));
  f.emplace_back("policy_sha256", policy_hex);
  return f;
}

std::string LedgerSafe(std::string_view s, size_t max) {
  std::string out;
  for (unsigned char c : s.substr(0, max)) out.push_back(c < 0x20 || c == 0x7f ? '?' : c);
  return out;
}

}  // namespace taogate::governance::internal
