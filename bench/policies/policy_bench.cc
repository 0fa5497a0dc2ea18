// Policy evaluation latency: p50/p99 of one Policy::Evaluate call on
// synthetic bundles of 10, 1,000 and 10,000 rules (goal: p99 <= 20 us at
// 1,000 rules). Bundles are generated as YAML and loaded through the real
// parser; requests mix hits (a rule's own actor/workload/target) and misses.
// Each call is timed on its own with steady_clock (~20 ns overhead included).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "report.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/policies/policy.h"

using namespace taogate;
using namespace taogate::policies;
using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
  int rules, actors, workloads, targets, actions = 20, roles = 50;
};

Shape ShapeFor(int rules) {
  return {rules, std::max(10, rules / 10), std::max(5, rules / 20), std::max(5, rules / 10)};
}

std::string Ip(int t) { return StrCat("10.", (t >> 8) & 255, ".", t & 255, ".0"); }

std::string GenerateBundle(const Shape& s, std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::string y = "version: 1\nname: bench\nroles:\n";
  for (int r = 0; r < s.roles; ++r) y += StrCat("  - id: role", r, "\n");
  y += "actors:\n";
  for (int a = 0; a < s.actors; ++a) {
    y += StrCat("  - identity: spiffe://bench/sa/a", a, "\n    roles: [role", a % s.roles,
                ", role", (a * 7 + 3) % s.roles, "]\n");
  }
  for (int h = 0; h < 3; ++h) {
    std::array<uint8_t, 32> seed{};
    seed.fill(static_cast<uint8_t>(h + 1));
    auto key = crypto::Ed25519PrivateKey::FromSeed(seed);
    y += StrCat("  - identity: spiffe://bench/human/h", h, "\n    roles: [role0]\n",
                "    approver_keys: [", ToHex(key->PublicKey()), "]\n");
  }
  y += "workloads:\n";
  for (int w = 0; w < s.workloads; ++w) {
    y += StrCat("  - id: w", w, "\n    selectors:\n      cgroup_paths: [/bench/w", w, "]\n");
    if (w % 3 == 0) y += StrCat("      pod_labels: {app: w", w, "}\n");
  }
  y += "targets:\n";
  for (int t = 0; t < s.targets; ++t) {
    y += StrCat("  - id: t", t, "\n    networks:\n      - cidrs: [", Ip(t), "/24]\n",
                "        ports: [", 5000 + t % 100, ", \"8000-8010\"]\n        protocols: [tcp]\n");
    if (t % 10 == 0) y += StrCat("    unix_paths: [/run/bench/t", t, ".sock]\n");
  }
  y += "action_classes:\n";
  for (int a = 0; a < s.actions; ++a) y += StrCat("  - id: act", a, "\n    ttl: 60s\n");
  y += "rules:\n";
  for (int r = 0; r < s.rules; ++r) {
    int kind = pick(10);
    const char* effect = kind == 0 ? "deny" : kind == 1 ? "require_approval" : "allow";
    y += StrCat("  - id: r", r, "\n    effect: ", effect, "\n");
    if (pick(2)) {
      y += StrCat("    roles: [role", pick(s.roles), "]\n");
    } else {
      y += StrCat("    actors: [spiffe://bench/sa/a", pick(s.actors), "]\n");
    }
    int w = pick(s.workloads);
    y += StrCat("    workloads: [w", w, ", w", (w + 1) % s.workloads, "]\n");
    y += StrCat("    actions: [act", r % s.actions, "]\n");
    y += StrCat("    targets: [t", pick(s.targets), "]\n");
    if (kind == 1) y += "    approval: {roles: [role0], count: 2}\n";
  }
  return y;
}

std::vector<Request> Requests(const Policy& p, const Shape& s, std::mt19937& rng, int n) {
  auto pick = [&](int k) { return static_cast<int>(rng() % k); };
  const Bundle& b = p.bundle();
  std::vector<Request> out;
  for (int i = 0; i < n; ++i) {
    Request r;
    if (pick(5) != 0) {  // aim at a rule
      const RuleDef& rule = b.rules[pick(static_cast<int>(b.rules.size()))];
      r.actor = rule.actors.items.empty() ? StrCat("spiffe://bench/sa/a", pick(s.actors))
                                          : b.actors[rule.actors.items[0]].identity;
      int w = rule.workloads.items[0];
      r.workload.cgroup_path = StrCat("/bench/w", w, "/pod", i % 7);
      if (w % 3 == 0) r.workload.pod_labels["app"] = StrCat("w", w);
      r.action = b.action_classes[rule.actions.items[0]].id;
      int t = rule.targets.items[0];
      r.target = *ParseTargetRef(StrCat("tcp:", Ip(t).substr(0, Ip(t).size() - 1), pick(250) + 1,
                                        ":", 5000 + t % 100));
    } else {  // anything
      r.actor = StrCat("spiffe://bench/sa/a", pick(s.actors));
      r.workload.cgroup_path = StrCat("/bench/w", pick(s.workloads));
      r.action = StrCat("act", pick(s.actions));
      int t = pick(s.targets);
      r.target = *ParseTargetRef(StrCat("tcp:", Ip(t).substr(0, Ip(t).size() - 1), "9:", 8005));
    }
    out.push_back(std::move(r));
  }
  return out;
}

double Percentile(std::vector<double>& v, double q) {
  size_t k = static_cast<size_t>(q * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  bench::Report report;
  std::mt19937 rng(42);
  for (int rules : {10, 1000, 10000}) {
    Shape s = ShapeFor(rules);
    std::string yaml = GenerateBundle(s, rng);
    auto t0 = Clock::now();
    auto p = Policy::Load(yaml, "bench.yaml");
    double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!p.ok()) {
      fprintf(stderr, "bench bundle invalid: %s\n", std::string(p.status().message()).c_str());
      return 1;
    }
    auto reqs = Requests(**p, s, rng, 4096);
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < 20000; ++i) {  // warm up
      counts[static_cast<int>((*p)->Evaluate(reqs[i % reqs.size()]).effect)]++;
    }
    constexpr int kN = 200000;
    std::vector<double> us;
    us.reserve(kN);
    for (int i = 0; i < kN; ++i) {
      const Request& r = reqs[i % reqs.size()];
      auto a = Clock::now();
      Decision d = (*p)->Evaluate(r);
      auto b = Clock::now();
      if (d.bundle_sha256[0] == 0x5a && d.rule_id.size() == 999) std::abort();  // keep d
      us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
    }
    double p50 = Percentile(us, 0.50), p99 = Percentile(us, 0.99);
    nlohmann::json params = {{"rules", rules}};
    report.Add({"policy_eval_p50", p50, "us", std::nullopt, params});
    report.Add({"policy_eval_p99", p99, "us", std::nullopt, params});
    report.Add({"policy_load", load_ms, "ms", std::nullopt,
                {{"rules", rules}, {"bundle_bytes", yaml.size()}}});
    fprintf(stderr, "rules=%d permit=%d deny=%d approval=%d (warm-up mix)\n", rules, counts[0],
            counts[1], counts[2]);
  }
  return report.Emit(bench::JsonPathFromArgs(argc, argv)) ? 0 : 1;
}
