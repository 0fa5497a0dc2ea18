// Policy::Evaluate and the other per-request checks. Hot path: hash lookups,
// two small vectors (targets, workloads) and the Decision's strings; no locks.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <set>

#include "compiled.h"
#include "taogate/common/crypto.h"
#include "taogate/common/strings.h"

namespace taogate::policies {
namespace {

Decision Deny(const BundleHash& h, std::string reason, std::string rule_id = {}) {
  Decision d;
  d.effect = Effect::kDeny;
  d.rule_id = std::move(rule_id);
  d.reason = std::move(reason);
  d.bundle_sha256 = h;
  return d;
}

bool SubjectMatches(const CompiledRule& r, Index actor, const Bits& actor_roles) {
  return r.any_actor || r.actors.Test(actor) || r.roles.Intersects(actor_roles);
}

bool WorkloadsMatch(const CompiledRule& r, const std::vector<Index>& wls) {
  if (r.any_workload) return true;
  for (Index w : wls) {
    if (r.workloads.Test(w)) return true;
  }
  return false;
}

// A deny needs any of the request's targets; a grant must cover all of them,
// since the grant opens the address for every target that shares it.
bool TargetsMatch(const CompiledRule& r, const std::vector<Index>& ts, bool grant) {
  if (r.any_target) return true;
  if (grant) {
    return std::all_of(ts.begin(), ts.end(), [&](Index t) { return r.targets.Test(t); });
  }
  return std::any_of(ts.begin(), ts.end(), [&](Index t) { return r.targets.Test(t); });
}

}  // namespace

Decision Policy::Evaluate(const Request& req) const {
  const Compiled& c = *c_;
  auto actor = c.actors.find(req.actor);
  if (actor == c.actors.end()) return Deny(c.hash, "unknown actor (not in the bundle)");
  auto action = c.actions.find(req.action);
  if (action == c.actions.end()) return Deny(c.hash, "unknown action class");
  std::vector<Index> targets;
  if (!c.ResolveTarget(req.target, targets)) return Deny(c.hash, "malformed target");
  if (targets.empty()) return Deny(c.hash, "target is not protected by this bundle");
  std::vector<Index> workloads;
  c.ResolveWorkloads(req.workload, workloads);

  const Index a = action->second;
  const Bits& roles = c.actor_roles[actor->second];
  // The earliest matching rule (in file order) among the lists `pick` selects
  // from any_target and from each matched target's lists.
  const Compiled::ActionIndex& ai = c.by_action[action->second];
  auto earliest = [&](auto pick, bool grant) -> const CompiledRule* {
    uint32_t best = UINT32_MAX;
    auto scan = [&](const std::vector<uint32_t>& list) {
      for (uint32_t pos : list) {
        if (pos >= best) return;
        const CompiledRule& r = c.rules[pos];
        if (SubjectMatches(r, actor->second, roles) && WorkloadsMatch(r, workloads) &&
            TargetsMatch(r, targets, grant)) {
          best = pos;
          return;
        }
      }
    };
    scan(pick(ai.any_target));
    // A grant must name every target, so the first target's lists hold all
    // candidates; a deny may name any of them.
    for (size_t i = 0; i < (grant ? 1 : targets.size()); ++i) {
      auto it = ai.by_target.find(targets[i]);
      if (it != ai.by_target.end()) scan(pick(it->second));
    }
    return best == UINT32_MAX ? nullptr : &c.rules[best];
  };
  using Lists = Compiled::RuleLists;
  if (const CompiledRule* r =
          earliest([](const Lists& l) -> const auto& { return l.deny; }, false)) {
    const std::string& id = c.bundle.rules[r->rule].id;
    return Deny(c.hash, StrCat("denied by rule ", id), id);
  }
  const CompiledRule* r = earliest([](const Lists& l) -> const auto& { return l.approve; }, true);
  bool approval = r != nullptr;
  if (!r) r = earliest([](const Lists& l) -> const auto& { return l.allow; }, true);
  if (!r) return Deny(c.hash, "no rule matched (default deny)");

  const RuleDef& rule = c.bundle.rules[r->rule];
  Decision d;
  d.bundle_sha256 = c.hash;
  d.rule_id = rule.id;
  uint32_t ttl = c.bundle.action_classes[a].ttl_seconds;
  if (rule.ttl_seconds) ttl = std::min(ttl, *rule.ttl_seconds);
  d.ttl = std::chrono::seconds(ttl);
  if (approval) {
    d.effect = Effect::kRequireApproval;
    ApprovalSpec spec;
    spec.count = rule.approval->count;
    for (Index ri : rule.approval->roles) spec.roles.push_back(c.bundle.roles[ri].id);
    d.reason = StrCat("rule ", rule.id, " requires ", spec.count, " approval(s)");
    d.approval = std::move(spec);
  } else {
    d.effect = Effect::kPermit;
    d.reason = StrCat("permitted by rule ", rule.id);
  }
  return d;
}

absl::StatusOr<BreakGlassGrant> Policy::CheckBreakGlass(const BreakGlassRequest& req) const {
  const Compiled& c = *c_;
  auto actor = c.actors.find(req.actor);
  if (actor == c.actors.end()) return absl::PermissionDeniedError("unknown actor");
  auto action = c.actions.find(req.action);
  if (action == c.actions.end()) return absl::PermissionDeniedError("unknown action class");
  std::vector<Index> targets;
  if (!c.ResolveTarget(req.target, targets) || targets.empty()) {
    return absl::PermissionDeniedError("target is not protected by this bundle");
  }
  if (req.ttl.count() < 0) return absl::PermissionDeniedError("negative TTL");
  std::vector<Index> workloads;
  c.ResolveWorkloads(req.workload, workloads);
  const Bits& roles = c.actor_roles[actor->second];
  auto has = [](const std::vector<Index>& v, Index i) {
    return std::find(v.begin(), v.end(), i) != v.end();
  };
  std::string why = "no break-glass scope grants this actor's roles";
  for (const BreakGlassScope& s : c.bundle.break_glass) {
    if (!std::any_of(s.roles.begin(), s.roles.end(), [&](Index r) { return roles.Test(r); })) {
      continue;
    }
    if (!has(s.actions, action->second)) {
      why = StrCat("action is outside break-glass scope ", s.id);
      continue;
    }
    if (!std::all_of(targets.begin(), targets.end(), [&](Index t) { return has(s.targets, t); })) {
      why = StrCat("target is outside break-glass scope ", s.id);
      continue;
    }
    if (!s.workloads.any &&
        !std::any_of(workloads.begin(), workloads.end(),
                     [&](Index w) { return has(s.workloads.items, w); })) {
      why = StrCat("workload is outside break-glass scope ", s.id);
      continue;
    }
    if (req.ttl.count() > s.max_ttl_seconds) {
      why = StrCat("TTL exceeds break-glass scope ", s.id, " max of ", s.max_ttl_seconds, "s");
      continue;
    }
    BreakGlassGrant g;
    g.scope_id = s.id;
    g.ttl = req.ttl.count() == 0 ? std::chrono::seconds(s.max_ttl_seconds) : req.ttl;
    g.bundle_sha256 = c.hash;
    return g;
  }
  return absl::PermissionDeniedError(why);
}

absl::Status Policy::VerifyApproverSignature(std::string_view approver,
                                             std::span<const uint8_t> message,
                                             std::span<const uint8_t> signature) const {
  auto it = c_->actors.find(approver);
  if (it == c_->actors.end() || c_->bundle.actors[it->second].approver_keys.empty()) {
    return absl::NotFoundError("approver has no approver_keys in this bundle");
  }
  for (const auto& key : c_->bundle.actors[it->second].approver_keys) {
    if (crypto::Ed25519Verify(key, message, signature).ok()) return absl::OkStatus();
  }
  return absl::UnauthenticatedError("approval signature does not verify under the approver's keys");
}

absl::Status Policy::CheckApprovals(const ApprovalSpec& spec, std::string_view requester,
                                    std::span<const std::string> approvers) const {
  std::set<std::string_view> counted;
  for (const std::string& who : approvers) {
    if (who == requester) {
      return absl::PermissionDeniedError("the requester cannot approve their own request");
    }
    auto it = c_->actors.find(who);
    if (it == c_->actors.end()) continue;
    const ActorDef& a = c_->bundle.actors[it->second];
    if (!a.approver()) continue;
    bool qualifies = std::any_of(spec.roles.begin(), spec.roles.end(), [&](const std::string& r) {
      auto ri = c_->roles.find(r);
      return ri != c_->roles.end() && c_->actor_roles[it->second].Test(ri->second);
    });
    if (qualifies) counted.insert(who);
  }
  if (counted.size() < spec.count) {
    return absl::FailedPreconditionError(
        StrCat(counted.size(), " of ", spec.count, " required distinct approvals"));
  }
  return absl::OkStatus();
}

ProtectedTargetSet Policy::ProtectedTargets() const {
  ProtectedTargetSet out;
  for (const TargetDef& t : c_->bundle.targets) {
    for (const NetRange& r : t.networks)
      if (!r.node || r.family == 4) out.networks.push_back({t.id, r, t.audit});  // a node range once
    for (const NameRange& r : t.names) out.names.push_back({t.id, r, t.audit});
    for (const auto& p : t.unix_paths) out.unix_paths.push_back({t.id, p, false, t.audit});
    for (const auto& p : t.file_paths) out.file_paths.push_back({t.id, p, p.back() == '/'});
    for (const auto& p : t.binaries) out.binaries.push_back({t.id, p, false});
  }
  return out;
}

}  // namespace taogate::policies
