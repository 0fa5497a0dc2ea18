// The indexed evaluator against a brute-force reference written from the
// documented semantics (policy.h) on random bundles with wildcards, overlapping
// CIDRs, directory targets and role/actor subjects. Any disagreement is a bug
// in the index (or in the documentation).
#include <gtest/gtest.h>

#include <random>

#include "policy_testing.h"
#include "taogate/common/strings.h"

namespace taogate::policies {
namespace {

std::string RandomBundle(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::string y = "version: 1\nname: diff\nroles: [{id: r0}, {id: r1}, {id: r2}]\nactors:\n";
  for (int a = 0; a < 4; ++a) {
    y += StrCat("  - identity: a", a, "\n    roles: [r", a % 3, "]\n");
  }
  y += "workloads:\n  - id: w0\n    selectors: {cgroup_paths: [/c/w0]}\n"
       "  - id: w1\n    selectors: {nodes: [n1]}\n"
       "  - id: w2\n    selectors: {pod_labels: {app: x}}\n";
  y += "targets:\n"
       "  - id: t0\n    networks: [{cidrs: [10.0.0.0/8], ports: [\"1-1000\"], protocols: [tcp]}]\n"
       "  - id: t1\n    networks: [{cidrs: [10.1.0.0/16], ports: [80], protocols: [tcp, udp]}]\n"
       "  - id: t2\n    networks: [{cidrs: [10.1.2.3/32], ports: [80, 443], protocols: [tcp]}]\n"
       "  - id: t3\n    file_paths: [/d/, /d/e/f]\n"
       "  - id: t4\n    file_paths: [/d/e/]\n";
  y += "action_classes: [{id: x0, ttl: 5s}, {id: x1, ttl: 5s}]\nrules:\n";
  const char* effects[] = {"deny", "allow", "allow", "require_approval"};
  int n = 1 + pick(12);
  for (int r = 0; r < n; ++r) {
    int e = pick(4);
    y += StrCat("  - id: q", r, "\n    effect: ", effects[e], "\n");
    if (pick(3) == 0) y += "    actors: [\"*\"]\n";
    else if (pick(2)) y += StrCat("    actors: [a", pick(4), "]\n");
    else y += StrCat("    roles: [r", pick(3), "]\n");
    y += pick(3) == 0 ? "    workloads: [\"*\"]\n" : StrCat("    workloads: [w", pick(3), "]\n");
    y += pick(3) == 0 ? "    actions: [\"*\"]\n" : StrCat("    actions: [x", pick(2), "]\n");
    if (pick(4) == 0) {
      y += "    targets: [\"*\"]\n";
    } else {
      int t = pick(5), u = pick(5);
      y += t == u ? StrCat("    targets: [t", t, "]\n") : StrCat("    targets: [t", t, ", t", u, "]\n");
    }
    if (e == 3) y += "    approval: {roles: [r0], count: 1}\n";
  }
  // Approvals need an approver with a key.
  y.replace(y.find("  - identity: a0\n    roles: [r0]\n"), 32,
            "  - identity: a0\n    roles: [r0]\n    approver_keys: "
            "[\"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\"]\n");
  return y;
}

// Straight from the documented semantics, no indexes.
std::pair<Effect, std::string> Reference(const Policy& p, const Request& req) {
  const Bundle& b = p.bundle();
  int actor = -1, action = -1;
  for (size_t i = 0; i < b.actors.size(); ++i) if (b.actors[i].identity == req.actor) actor = i;
  for (size_t i = 0; i < b.action_classes.size(); ++i) if (b.action_classes[i].id == req.action) action = i;
  if (actor < 0 || action < 0) return {Effect::kDeny, ""};
  std::vector<Index> targets;
  for (size_t t = 0; t < b.targets.size(); ++t) {
    bool in = false;
    if (req.target.kind == TargetKind::kFile) {
      for (const auto& f : b.targets[t].file_paths) {
        in |= f.back() == '/' ? PathUnder(req.target.path, f) : f == req.target.path;
      }
    } else {
      auto ip = ParseIp(req.target.address);
      bool tcp = req.target.kind == TargetKind::kTcp;
      for (const auto& n : b.targets[t].networks) {
        in |= CidrContains(n, *ip) && req.target.port >= n.port_lo &&
              req.target.port <= n.port_hi && (tcp ? n.tcp : n.udp);
      }
    }
    if (in) targets.push_back(t);
  }
  if (targets.empty()) return {Effect::kDeny, ""};
  auto has = [](const Selection& s, Index i) {
    return s.any || std::find(s.items.begin(), s.items.end(), i) != s.items.end();
  };
  auto matches = [&](const RuleDef& r, bool grant) {
    bool subject = has(r.actors, actor) && (r.actors.any || !r.actors.items.empty());
    for (Index role : b.actors[actor].roles) {
      subject |= std::find(r.roles.begin(), r.roles.end(), role) != r.roles.end();
    }
    bool wl = r.workloads.any;
    for (size_t w = 0; w < b.workloads.size(); ++w) {
      const WorkloadDef& d = b.workloads[w];
      bool m = (d.cgroup_paths.empty() || PathUnder(req.workload.cgroup_path, d.cgroup_paths[0])) &&
               (d.nodes.empty() || d.nodes[0] == req.workload.node) &&
               (d.pod_labels.empty() || (req.workload.pod_labels.count("app") &&
                                         req.workload.pod_labels.at("app") == "x"));
      wl |= m && has(r.workloads, w);
    }
    bool tg = grant;
    for (Index t : targets) tg = grant ? (tg && has(r.targets, t)) : (tg || has(r.targets, t));
    return subject && wl && has(r.actions, action) && tg;
  };
  for (const auto& r : b.rules) if (r.effect == RuleEffect::kDeny && matches(r, false)) return {Effect::kDeny, r.id};
  for (const auto& r : b.rules) if (r.effect == RuleEffect::kRequireApproval && matches(r, true)) return {Effect::kRequireApproval, r.id};
  for (const auto& r : b.rules) if (r.effect == RuleEffect::kAllow && matches(r, true)) return {Effect::kPermit, r.id};
  return {Effect::kDeny, ""};
}

TEST(DifferentialTest, IndexedEvaluateAgreesWithReference) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const char* targets[] = {"tcp:10.1.2.3:80",  "udp:10.1.2.3:80", "tcp:10.1.2.3:443",
                           "tcp:10.9.9.9:80",  "tcp:10.1.7.7:80", "tcp:11.0.0.1:80",
                           "file:/d/e/f",      "file:/d/e/g/h",   "file:/d/x",
                           "file:/dx",         "tcp:10.0.0.1:1001"};
  int decided = 0;
  for (int bundle = 0; bundle < 300; ++bundle) {
    std::string y = RandomBundle(rng);
    auto p = Policy::Load(y, "diff.yaml");
    ASSERT_TRUE(p.ok()) << p.status() << "\n" << y;
    for (int i = 0; i < 60; ++i) {
      WorkloadAttributes w;
      if (pick(2)) w.cgroup_path = pick(2) ? "/c/w0/x" : "/c/w00";
      if (pick(2)) w.node = pick(2) ? "n1" : "n2";
      if (pick(2)) w.pod_labels["app"] = pick(2) ? "x" : "y";
      Request req = testing::Req(StrCat("a", pick(5)), StrCat("x", pick(3)), targets[pick(11)], w);
      Decision d = (*p)->Evaluate(req);
      auto [effect, rule] = Reference(**p, req);
      ASSERT_EQ(d.effect, effect) << y << "\n" << req.actor << " " << req.action << " "
                                  << FormatTargetRef(req.target) << " -> " << d.reason;
      ASSERT_EQ(d.rule_id, rule) << y;
      decided += d.effect != Effect::kDeny;
    }
  }
  EXPECT_GT(decided, 1000);  // the random mix exercises grants, not only denies
}

}  // namespace
}  // namespace taogate::policies
