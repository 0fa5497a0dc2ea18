// Running test cases: each case is one call of the governor's own checks
// (Evaluate or CheckBreakGlass), then a field-by-field comparison.
#include <algorithm>

#include "taogate/common/strings.h"
#include "taogate/policies/policy_test.h"

namespace taogate::policies {
namespace {

std::string Secs(uint32_t s) { return StrCat(s, "s"); }

std::string List(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out + "]";
}

// What one case produced, in the expectation's vocabulary.
struct Outcome {
  Effect decision = Effect::kDeny;
  std::string rule = "-";
  std::string reason;
  uint32_t ttl = 0;
  std::optional<ApprovalSpec> approval;
  std::vector<std::string> approvers;  // sorted
};

Outcome Run(const Policy& p, const TestCase& c, const Request& req) {
  Outcome o;
  if (c.break_glass_ttl) {
    BreakGlassRequest bg{req.actor, req.workload, req.action, req.target,
                         std::chrono::seconds(*c.break_glass_ttl)};
    auto g = p.CheckBreakGlass(bg);
    if (g.ok()) {
      o.decision = Effect::kPermit;
      o.rule = g->scope_id;
      o.ttl = static_cast<uint32_t>(g->ttl.count());
      o.reason = StrCat("break-glass scope ", g->scope_id);
    } else {
      o.reason = std::string(g.status().message());
    }
    return o;
  }
  Decision d = p.Evaluate(req);
  o.decision = d.effect;
  if (!d.rule_id.empty()) o.rule = d.rule_id;
  o.reason = d.reason;
  o.ttl = static_cast<uint32_t>(d.ttl.count());
  if (d.approval) {
    o.approval = d.approval;
    std::sort(o.approval->roles.begin(), o.approval->roles.end());
    o.approvers = EligibleApprovers(p, *d.approval, req.actor);
  }
  return o;
}

std::optional<RateLimit> LimitFor(const RateLimitConfig& c, const std::string& actor) {
  auto it = c.per_actor.find(actor);
  if (it != c.per_actor.end()) return it->second;
  return c.default_limit;
}

std::vector<FieldDiff> Compare(const CaseExpectation& e, const Outcome& o, const Policy& p,
                               const std::string& actor) {
  std::vector<FieldDiff> d;
  auto check = [&](const char* field, const std::string& want, const std::string& got) {
    if (want != got) d.push_back({field, want, got});
  };
  if (e.decision) {
    check("decision", std::string(DecisionName(*e.decision)),
          std::string(DecisionName(o.decision)));
  }
  if (e.rule) check("rule", *e.rule, o.rule);
  if (e.reason_contains && o.reason.find(*e.reason_contains) == std::string::npos) {
    d.push_back({"reason", StrCat("contains \"", *e.reason_contains, "\""), o.reason});
  }
  if (e.ttl_seconds) check("ttl", Secs(*e.ttl_seconds), Secs(o.ttl));
  std::string none = "none (no approval asked)";
  if (e.approval_count) {
    check("approvals.count", std::to_string(*e.approval_count),
          o.approval ? std::to_string(o.approval->count) : none);
  }
  if (e.approval_roles) {
    check("approvals.roles", List(*e.approval_roles), o.approval ? List(o.approval->roles) : none);
  }
  if (e.approvers) {
    check("approvals.approvers", List(*e.approvers), o.approval ? List(o.approvers) : none);
  }
  if (e.check_rate_limit) {
    auto got = LimitFor(p.rate_limits(), actor);
    bool same = e.rate_limit.has_value() == got.has_value() &&
                (!got || (std::abs(e.rate_limit->tokens_per_second - got->tokens_per_second) <
                              1e-9 * got->tokens_per_second &&
                          e.rate_limit->burst == got->burst));
    if (!same) d.push_back({"rate_limit", RateText(e.rate_limit), RateText(got)});
  }
  return d;
}

}  // namespace

std::vector<std::string> EligibleApprovers(const Policy& p, const ApprovalSpec& spec,
                                           const std::string& requester) {
  ApprovalSpec one = spec;
  one.count = 1;
  std::vector<std::string> out;
  for (const ActorDef& a : p.bundle().actors) {
    std::string who[1] = {a.identity};
    if (p.CheckApprovals(one, requester, who).ok()) out.push_back(a.identity);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string_view DecisionName(Effect e) {
  switch (e) {
    case Effect::kPermit: return "permit";
    case Effect::kDeny: return "deny";
    case Effect::kRequireApproval: return "require_approval";
  }
  return "deny";
}

absl::StatusOr<WorkloadAttributes> WorkloadAttributesFor(const Bundle& b, std::string_view id) {
  for (const WorkloadDef& w : b.workloads) {
    if (w.id != id) continue;
    WorkloadAttributes a;
    if (!w.nodes.empty()) a.node = w.nodes[0];
    if (!w.cgroup_paths.empty()) {
      a.cgroup_path = w.cgroup_paths[0];
      if (a.cgroup_path.size() > 1 && a.cgroup_path.back() == '/') a.cgroup_path.pop_back();
    }
    a.pod_labels = w.pod_labels;
    if (!w.AttestedOnly()) return a;
    a.attested = true;
    if (!w.namespaces.empty()) a.k8s_namespace = w.namespaces[0];
    for (const std::string& sa : w.service_accounts) {  // "namespace/name"
      size_t slash = sa.find('/');
      if (!a.k8s_namespace.empty() && sa.substr(0, slash) != a.k8s_namespace) continue;
      a.k8s_namespace = sa.substr(0, slash);
      a.service_account = sa.substr(slash + 1);
      break;
    }
    if (!w.exe_paths.empty()) a.exe_path = w.exe_paths[0];
    if (!w.exe_sha256.empty()) a.exe_sha256 = w.exe_sha256[0];
    return a;
  }
  return absl::NotFoundError(StrCat("unknown workload '", id, "' (not declared in the bundle)"));
}

absl::StatusOr<std::vector<CaseResult>> RunTestCases(const Policy& policy, const TestFile& file,
                                                     std::vector<ValidationError>* errors) {
  std::vector<CaseResult> out;
  std::vector<ValidationError> errs;
  for (size_t i = 0; i < file.cases.size(); ++i) {
    const TestCase& c = file.cases[i];
    Request req = c.request;
    if (!c.workload_id.empty()) {
      auto a = WorkloadAttributesFor(policy.bundle(), c.workload_id);
      if (!a.ok()) {
        errs.push_back({file.path, c.workload_line, c.workload_column,
                        StrCat("cases[", i, "].workload"), std::string(a.status().message())});
        continue;
      }
      req.workload = *a;
    }
    Outcome o = Run(policy, c, req);
    out.push_back({c.name, c.line, c.column, Compare(c.expect, o, policy, req.actor)});
  }
  if (errs.empty()) return out;
  std::string msg;
  for (const auto& e : errs) msg += e.ToString() + "\n";
  if (errors) errors->insert(errors->end(), errs.begin(), errs.end());
  return absl::InvalidArgumentError(msg);
}

}  // namespace taogate::policies
