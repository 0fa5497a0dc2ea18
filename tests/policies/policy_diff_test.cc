// DiffPolicies (policy_diff.h): each test edits one line of a base bundle and
// checks the change is reported on the right side (grant or revoke).
#include <gtest/gtest.h>

#include "taogate/policies/policy_diff.h"

namespace taogate::policies {
namespace {

constexpr char kBase[] = R"(version: 1
name: base
roles: [{id: reader}, {id: dba}, {id: oncall}]
actors:
  - {identity: spiffe://t/reader, roles: [reader]}
  - {identity: spiffe://t/writer, roles: [reader]}
  - identity: spiffe://t/alice
    roles: [dba, oncall]
    approver_keys: [fa13593ee580a8c2ca4206f63e0b26080e9f675f2a4b9f742c6b33bfe0c8d2d4]
  - identity: spiffe://t/bob
    roles: [dba]
    approver_keys: [d6a10a146e4ecf6a48de74d26e3ad7fd66eef999dc911976cfb964fa4a06b82d]
workloads:
  - {id: app, selectors: {cgroup_paths: [/app]}}
targets:
  - id: db
    networks: [{cidrs: [10.0.0.0/24], ports: [5432], protocols: [tcp]}]
  - id: api
    networks: [{cidrs: [10.1.0.1/32], ports: [443], protocols: [tcp]}]
action_classes: [{id: read, ttl: 60s}, {id: write, ttl: 30s}]
rules:
  - {id: no-writer-api, effect: deny, actors: [spiffe://t/writer], workloads: ["*"], actions: ["*"], targets: [api]}
  - {id: reads, effect: allow, roles: [reader], workloads: [app], actions: [read], targets: [db, api]}
  - id: writes
    effect: require_approval
    actors: [spiffe://t/writer]
    workloads: [app]
    actions: [write]
    targets: [db]
    approval: {roles: [dba], count: 2}
rate_limits:
  default: {rate: 10/s, burst: 20}
break_glass:
  - {id: bg, roles: [oncall], actions: [write], targets: [db], max_ttl: 5m}
)";

std::string Edit(std::string from, std::string to) {
  std::string s = kBase;
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

PolicyDiff Diff(const std::string& before, const std::string& after) {
  auto b = Policy::Load(before, "before.yaml");
  auto a = Policy::Load(after, "after.yaml");
  EXPECT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(a.ok()) << a.status();
  auto d = DiffPolicies(**b, **a);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : PolicyDiff{};
}

// The changes of `kind` on side `adds`, as "subject: detail" lines.
std::string Lines(const PolicyDiff& d, const std::string& kind, bool adds) {
  std::string out;
  for (const auto& c : d.changes) {
    if (c.kind == kind && c.adds == adds) out += c.subject + ": " + c.detail + "\n";
  }
  return out;
}

TEST(PolicyDiff, SameBundleChangesNothing) {
  EXPECT_TRUE(Diff(kBase, kBase).changes.empty());
}

TEST(PolicyDiff, GrantAddedIsAddedAuthority) {
  auto d = Diff(kBase, Edit("actions: [read], targets", "actions: [read, write], targets"));
  EXPECT_TRUE(d.AddsAuthority());
  std::string g = Lines(d, "access", true);
  EXPECT_NE(g.find("spiffe://t/reader (workload app): write on api, write on db: deny -> permit"),
            std::string::npos) << g;
  EXPECT_EQ(Lines(d, "access", false), "");
}

TEST(PolicyDiff, ApprovalsLoweredIsAddedAuthority) {
  auto d = Diff(kBase, Edit("count: 2", "count: 1"));
  EXPECT_TRUE(d.AddsAuthority());
  std::string g = Lines(d, "access", true);
  EXPECT_NE(g.find("require_approval 2 of roles [dba]"), std::string::npos) << g;
  EXPECT_NE(g.find("-> require_approval 1 of roles [dba] from [spiffe://t/alice, spiffe://t/bob]"),
            std::string::npos) << g;
}

TEST(PolicyDiff, ApprovalsRaisedIsARevoke) {
  auto d = Diff(Edit("count: 2", "count: 1"), kBase);
  EXPECT_FALSE(d.AddsAuthority());
  EXPECT_NE(Lines(d, "access", false).find("write on db"), std::string::npos);
}

TEST(PolicyDiff, AuditModeIsAddedAuthorityEnforceARevoke) {
  const std::string audited = Edit("  - id: api\n", "  - id: api\n    mode: audit\n");
  auto d = Diff(kBase, audited);
  EXPECT_TRUE(d.AddsAuthority());
  EXPECT_EQ(Lines(d, "audit", true), "audit mode: now audited (let through, recorded as WOULD_DENY): target api\n");
  auto back = Diff(audited, kBase);
  EXPECT_FALSE(back.AddsAuthority());
  EXPECT_EQ(Lines(back, "audit", false), "audit mode: enforced again: target api\n");
  auto w = Diff(kBase, Edit("{id: app, selectors", "{id: app, mode: audit, selectors"));
  EXPECT_EQ(Lines(w, "audit", true), "audit mode: now audited (let through, recorded as WOULD_DENY): workload app\n");
}

TEST(PolicyDiff, RateLimitRaisedIsAddedAuthority) {
  auto d = Diff(kBase, Edit("rate: 10/s, burst: 20", "rate: 20/s, burst: 20"));
  EXPECT_TRUE(d.AddsAuthority());
  EXPECT_NE(Lines(d, "rate_limit", true).find("spiffe://t/reader: raised: 10/s burst 20 -> 20/s burst 20"),
            std::string::npos) << Lines(d, "rate_limit", true);
}

TEST(PolicyDiff, RateLimitRemovedIsUnlimited) {
  auto d = Diff(kBase, Edit("rate_limits:\n  default: {rate: 10/s, burst: 20}\n", ""));
  EXPECT_NE(Lines(d, "rate_limit", true).find("10/s burst 20 -> none"), std::string::npos);
}

TEST(PolicyDiff, NarrowedRuleIsOnlyARevoke) {
  auto d = Diff(kBase, Edit("targets: [db, api]}", "targets: [db]}"));
  EXPECT_FALSE(d.AddsAuthority());
  std::string r = Lines(d, "access", false);
  EXPECT_NE(r.find("spiffe://t/reader (workload app): read on api: permit"), std::string::npos) << r;
}

TEST(PolicyDiff, DenyRuleRemovedIsAddedAuthority) {
  auto d = Diff(kBase, Edit("  - {id: no-writer-api, effect: deny, actors: [spiffe://t/writer], "
                            "workloads: [\"*\"], actions: [\"*\"], targets: [api]}\n",
                            ""));
  EXPECT_TRUE(d.AddsAuthority());
  EXPECT_EQ(Lines(d, "deny_rule", true), "deny rule no-writer-api: removed\n");
  // The writer's read on api was masked by the deny: now the grant shows.
  EXPECT_NE(Lines(d, "access", true).find("spiffe://t/writer (workload app): read on api: deny -> permit"),
            std::string::npos);
}

TEST(PolicyDiff, TargetNarrowedLeavesAddressesUnguarded) {
  auto d = Diff(kBase, Edit("10.0.0.0/24", "10.0.0.0/25"));
  EXPECT_TRUE(d.AddsAuthority());
  EXPECT_NE(Lines(d, "target", true).find("target db: narrowed"), std::string::npos);
}

TEST(PolicyDiff, TargetWidenedExtendsItsGrants) {
  auto d = Diff(kBase, Edit("10.0.0.0/24", "10.0.0.0/16"));
  EXPECT_TRUE(d.AddsAuthority());
  EXPECT_NE(Lines(d, "target", true).find("widened: now also covers tcp 10.0.0.0/16:5432"),
            std::string::npos);
  EXPECT_EQ(Lines(d, "target", false), "");
}

TEST(PolicyDiff, WorkloadSelectorWidenedIsAddedAuthority) {
  auto d = Diff(kBase, Edit("cgroup_paths: [/app]", "cgroup_paths: [/app, /tmp]"));
  EXPECT_NE(Lines(d, "workload", true).find("cgroup_paths +[/tmp]"), std::string::npos);
}

TEST(PolicyDiff, ActorGainingARoleGainsItsGrantsAndBreakGlass) {
  auto d = Diff(kBase, Edit("identity: spiffe://t/reader, roles: [reader]",
                            "identity: spiffe://t/reader, roles: [reader, oncall]"));
  EXPECT_NE(Lines(d, "break_glass", true).find("spiffe://t/reader (any other workload, workload app): write on db: no break-glass"),
            std::string::npos) << Lines(d, "break_glass", true);
}

TEST(PolicyDiff, BreakGlassTtlLoweredIsARevoke) {
  auto d = Diff(kBase, Edit("max_ttl: 5m", "max_ttl: 1m"));
  EXPECT_FALSE(d.AddsAuthority());
  EXPECT_NE(Lines(d, "break_glass", false).find("up to 300s (scope bg) -> break-glass up to 60s"),
            std::string::npos);
}

}  // namespace
}  // namespace taogate::policies
