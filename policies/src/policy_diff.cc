// DiffPolicies: the access and break-glass cells of both bundles, compared by
// name; the definitions (targets, workloads, ...) in policy_diff_defs.cc.
#include <algorithm>
#include <set>

#include "policy_diff_internal.h"
#include "taogate/common/strings.h"
#include "taogate/policies/policy_test.h"

namespace taogate::policies {
namespace diff_internal {
namespace {

std::vector<Index> Expand(const Selection& s, size_t all) {
  if (!s.any) return s.items;
  std::vector<Index> v(all);
  for (size_t i = 0; i < all; ++i) v[i] = static_cast<Index>(i);
  return v;
}

bool HasRole(const ActorDef& a, const std::vector<Index>& roles) {
  return std::any_of(roles.begin(), roles.end(), [&](Index r) {
    return std::binary_search(a.roles.begin(), a.roles.end(), r);
  });
}

std::string WorkloadName(const Bundle& b, Index w) {
  return w < b.workloads.size() ? b.workloads[w].id : kOtherWorkload;
}

// Calls f(workload, action, target) for every combination `sel`s name,
// counting against the cell budget.
template <typename F>
absl::Status ForCells(const Bundle& b, const Selection& wl, const std::vector<Index>& actions,
                      const std::vector<Index>& targets, size_t& budget, F&& f) {
  auto wls = Expand(wl, b.workloads.size() + 1);  // + "*": no declared workload
  size_t n = wls.size() * actions.size() * targets.size();
  if (n > budget) {
    return absl::ResourceExhaustedError(
        StrCat("bundle ", b.name, " expands to more than ", kMaxDiffCells, " cells"));
  }
  budget -= n;
  for (Index w : wls)
    for (Index a : actions)
      for (Index t : targets) f(w, a, t);
  return absl::OkStatus();
}

}  // namespace

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

absl::StatusOr<Grants> AccessCells(const Policy& p) {
  const Bundle& b = p.bundle();
  Grants out;
  size_t budget = kMaxDiffCells;
  for (Index ai = 0; ai < b.actors.size(); ++ai) {
    const ActorDef& actor = b.actors[ai];
    struct Acc {
      bool deny = false;
      int approve = -1, allow = -1;  // first matching rule of each kind
    };
    std::map<std::tuple<Index, Index, Index>, Acc> acc;
    for (size_t ri = 0; ri < b.rules.size(); ++ri) {
      const RuleDef& r = b.rules[ri];
      bool subject = r.actors.any ||
                     std::binary_search(r.actors.items.begin(), r.actors.items.end(), ai) ||
                     HasRole(actor, r.roles);
      if (!subject) continue;
      auto s = ForCells(b, r.workloads, Expand(r.actions, b.action_classes.size()),
                        Expand(r.targets, b.targets.size()), budget, [&](Index w, Index a, Index t) {
                          Acc& c = acc[{w, a, t}];
                          int& first = r.effect == RuleEffect::kAllow ? c.allow : c.approve;
                          if (r.effect == RuleEffect::kDeny) c.deny = true;
                          else if (first < 0) first = static_cast<int>(ri);
                        });
      if (!s.ok()) return s;
    }
    for (const auto& [key, c] : acc) {
      int ri = c.approve >= 0 ? c.approve : c.allow;
      if (c.deny || ri < 0) continue;
      const RuleDef& r = b.rules[ri];
      auto [w, a, t] = key;
      Grant g;
      g.rule = r.id;
      g.ttl = b.action_classes[a].ttl_seconds;
      if (r.ttl_seconds) g.ttl = std::min(g.ttl, *r.ttl_seconds);
      if (c.approve >= 0) {
        g.effect = Effect::kRequireApproval;
        ApprovalSpec spec;
        spec.count = r.approval->count;
        for (Index role : r.approval->roles) spec.roles.push_back(b.roles[role].id);
        std::sort(spec.roles.begin(), spec.roles.end());
        g.count = spec.count;
        g.approvers = EligibleApprovers(p, spec, actor.identity);
        g.roles = std::move(spec.roles);
      }
      out[{actor.identity, WorkloadName(b, w), b.action_classes[a].id, b.targets[t].id}] = g;
    }
  }
  return out;
}

absl::StatusOr<Glasses> BreakGlassCells(const Policy& p) {
  const Bundle& b = p.bundle();
  Glasses out;
  size_t budget = kMaxDiffCells;
  for (const ActorDef& actor : b.actors) {
    for (const BreakGlassScope& s : b.break_glass) {
      if (!HasRole(actor, s.roles)) continue;
      auto st = ForCells(b, s.workloads, s.actions, s.targets, budget, [&](Index w, Index a, Index t) {
        Glass& g = out[{actor.identity, WorkloadName(b, w), b.action_classes[a].id,
                        b.targets[t].id}];
        if (s.max_ttl_seconds > g.ttl) g = {s.max_ttl_seconds, s.id};
      });
      if (!st.ok()) return st;
    }
  }
  return out;
}

namespace {

std::string GrantText(const Grant* g) {
  if (!g) return "deny";
  if (g->effect == Effect::kPermit) return StrCat("permit (ttl ", g->ttl, "s, rule ", g->rule, ")");
  return StrCat("require_approval ", g->count, " of roles [", Join(g->roles), "] from [",
                Join(g->approvers), "] (ttl ", g->ttl, "s, rule ", g->rule, ")");
}

std::string GlassText(const Glass* g) {
  return g ? StrCat("break-glass up to ", g->ttl, "s (scope ", g->scope, ")") : "no break-glass";
}

bool Gains(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  return std::any_of(after.begin(), after.end(), [&](const std::string& s) {
    return !std::binary_search(before.begin(), before.end(), s);
  });
}

// Whether going from `b` to `a` widens (first) and narrows (second).
std::pair<bool, bool> Compare(const Grant* b, const Grant* a) {
  auto rank = [](const Grant* g) { return !g ? 0 : g->effect == Effect::kPermit ? 2 : 1; };
  if (rank(a) != rank(b)) return {rank(a) > rank(b), rank(a) < rank(b)};
  if (!a) return {false, false};
  bool wider = a->ttl > b->ttl, narrower = a->ttl < b->ttl;
  if (a->effect == Effect::kRequireApproval) {
    wider |= a->count < b->count || Gains(b->approvers, a->approvers);
    narrower |= a->count > b->count || Gains(a->approvers, b->approvers);
  }
  return {wider, narrower};
}

std::pair<bool, bool> Compare(const Glass* b, const Glass* a) {
  uint32_t bt = b ? b->ttl : 0, at = a ? a->ttl : 0;
  return {at > bt, at < bt};
}

// One change per actor and (before, after) pair, listing its action/target
// pairs and the workloads that share them, so a rule naming "*" reads as
// one line per actor.
template <typename Map, typename Text>
void DiffCells(const Map& before, const Map& after, const char* kind, Text text,
               std::vector<AuthorityChange>& out) {
  std::set<Cell> keys;
  for (const auto& [k, v] : before) keys.insert(k);
  for (const auto& [k, v] : after) keys.insert(k);
  std::map<std::tuple<bool, std::string, std::string, std::string, std::string>,
           std::vector<std::string>> groups;
  for (const Cell& k : keys) {
    auto bi = before.find(k);
    auto ai = after.find(k);
    const auto* b = bi == before.end() ? nullptr : &bi->second;
    const auto* a = ai == after.end() ? nullptr : &ai->second;
    auto [wider, narrower] = Compare(b, a);
    if (!wider && !narrower) continue;
    const auto& [actor, wl, action, target] = k;
    groups[{wider, actor, wl, text(b), text(a)}].push_back(StrCat(action, " on ", target));
  }
  // Workloads with the same change to the same cells share a line.
  std::map<std::tuple<bool, std::string, std::string, std::string, std::string>,
           std::vector<std::string>> merged;
  for (auto& [g, items] : groups) {
    const auto& [adds, actor, wl, bt, at] = g;
    merged[{adds, actor, Join(items), bt, at}].push_back(
        wl == kOtherWorkload ? std::string("any other workload") : StrCat("workload ", wl));
  }
  for (auto& [g, wls] : merged) {
    const auto& [adds, actor, items, bt, at] = g;
    out.push_back({adds, kind,
                   StrCat(actor, " (", Join(wls), ")"),
                   StrCat(items, ": ", bt, " -> ", at)});
  }
}

template <typename Map>
std::vector<std::string> Named(const Map& cells, int field) {
  std::set<std::string> s;
  for (const auto& [k, v] : cells) s.insert(field == 1 ? std::get<1>(k) : std::get<3>(k));
  return {s.begin(), s.end()};
}

}  // namespace
}  // namespace diff_internal

bool PolicyDiff::AddsAuthority() const {
  return std::any_of(changes.begin(), changes.end(), [](const auto& c) { return c.adds; });
}

absl::StatusOr<PolicyDiff> DiffPolicies(const Policy& before, const Policy& after) {
  using namespace diff_internal;
  auto gb = AccessCells(before), ga = AccessCells(after);
  if (!gb.ok()) return gb.status();
  if (!ga.ok()) return ga.status();
  auto bb = BreakGlassCells(before), ba = BreakGlassCells(after);
  if (!bb.ok()) return bb.status();
  if (!ba.ok()) return ba.status();
  PolicyDiff d;
  DiffCells(*gb, *ga, "access", [](const Grant* g) { return GrantText(g); }, d.changes);
  DiffCells(*bb, *ba, "break_glass", [](const Glass* g) { return GlassText(g); }, d.changes);
  std::vector<std::string> targets = Named(*ga, 3), workloads = Named(*ga, 1);
  for (const auto& s : Named(*ba, 3)) targets.push_back(s);
  for (const auto& s : Named(*ba, 1)) workloads.push_back(s);
  std::sort(targets.begin(), targets.end());
  std::sort(workloads.begin(), workloads.end());
  DiffDefinitions(before, after, targets, workloads, d.changes);
  return d;
}

}  // namespace taogate::policies
