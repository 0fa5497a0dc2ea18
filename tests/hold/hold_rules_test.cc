// The bundle's hold rules on the agent (hold_rules.h): which held connects
// the agent acquires for. Each test is a held process and destination the
// rule must (or must not) take; the target ids come from a real TargetSync
// over a fake gate, node and named entries expanded as the gate holds them.
#include <set>

#include <gtest/gtest.h>

#include "taogate/agent/hold_rules.h"
#include "taogate/agent/target_sync.h"
#include "taogate/target/target.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

v1::AttestedWorkload Facts(std::string cgroup, std::string exe, std::string sha = std::string(64, 'a')) {
  v1::AttestedWorkload f;
  f.set_node_id("n1");
  f.set_cgroup_path(std::move(cgroup));
  f.set_exe_path(std::move(exe));
  f.set_exe_sha256(std::move(sha));
  return f;
}

v1::HoldRule Rule(std::string id, std::vector<std::string> targets, int64_t max_ms = 30'000) {
  v1::HoldRule r;
  r.set_id(std::move(id));
  r.set_action_class("db.read");
  r.set_max_hold_ms(static_cast<uint32_t>(max_ms));
  if (targets.empty()) r.set_all_targets(true);
  for (auto& t : targets) r.add_targets(std::move(t));
  return r;
}

v1::HoldWorkload* Psql(v1::HoldRule& r) {
  v1::HoldWorkload* w = r.add_workloads();
  w->set_id("tools");
  w->add_cgroup_paths("/taogate/tools");
  w->add_exe_paths("/usr/bin/psql");
  return w;
}

TEST(ChooseHold, AllSelectorsOfAWorkloadMustMatchByComponent) {
  v1::HoldRule r = Rule("psql", {"db"});
  Psql(r);
  const std::vector<v1::HoldRule> rules = {r};
  EXPECT_TRUE(ChooseHold(rules, {"db"}, Facts("/taogate/tools", "/usr/bin/psql"), 60'000));
  EXPECT_TRUE(ChooseHold(rules, {"db"}, Facts("/taogate/tools/sub", "/usr/bin/psql"), 60'000));
  EXPECT_FALSE(ChooseHold(rules, {"db"}, Facts("/taogate/toolsX", "/usr/bin/psql"), 60'000));  // not a component
  EXPECT_FALSE(ChooseHold(rules, {"db"}, Facts("/taogate/tools", "/usr/bin/curl"), 60'000));  // another exe
  EXPECT_FALSE(ChooseHold(rules, {"cache"}, Facts("/taogate/tools", "/usr/bin/psql"), 60'000));  // another target
  EXPECT_FALSE(ChooseHold(rules, {}, Facts("/taogate/tools", "/usr/bin/psql"), 60'000));  // no target at all
}

TEST(ChooseHold, AnUnattestedFactNeverMatchesASelectorThatNamesIt) {
  v1::HoldRule r = Rule("by-hash", {});
  r.add_workloads()->set_id("w");
  r.mutable_workloads(0)->add_exe_sha256(std::string(64, 'b'));
  EXPECT_FALSE(ChooseHold({r}, {"db"}, Facts("/taogate/x", "/bin/x", ""), 60'000));
  EXPECT_FALSE(ChooseHold({r}, {"db"}, Facts("/taogate/x", "/bin/x", std::string(64, 'a')), 60'000));
  EXPECT_TRUE(ChooseHold({r}, {"db"}, Facts("/taogate/x", "/bin/x", std::string(64, 'b')), 60'000));
}

TEST(ChooseHold, TheFirstMatchingRuleWinsAndTheNodeCapsItsMaxHold) {
  v1::HoldRule narrow = Rule("narrow", {"db"}, 5'000);
  Psql(narrow);
  v1::HoldRule any = Rule("any", {}, 600'000);
  any.set_all_workloads(true);
  auto c = ChooseHold({narrow, any}, {"db"}, Facts("/taogate/tools", "/usr/bin/psql"), 60'000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->rule, "narrow");
  EXPECT_EQ(c->max_hold_ms, 5'000);
  c = ChooseHold({narrow, any}, {"db"}, Facts("/taogate/other", "/bin/sh"), 60'000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->rule, "any");
  EXPECT_EQ(c->max_hold_ms, 60'000);  // the node's ceiling, not the rule's 10 minutes
  EXPECT_EQ(c->action_class, "db.read");
}

TEST(ValidateHoldRules, AMalformedRuleRefusesTheSet) {
  auto refused = [](auto mutate) {
    v1::ProtectedTargets m;
    v1::HoldRule& r = *m.add_hold() = Rule("ok", {"db"});
    Psql(r);
    mutate(r);
    return !ValidateHoldRules(m).ok();
  };
  EXPECT_FALSE(refused([](v1::HoldRule&) {}));
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.set_max_hold_ms(0); }));
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.set_max_hold_ms(kMaxHoldMs + 1); }));
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.set_all_workloads(true); }));  // "*" and a list
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.clear_workloads(); }));       // neither
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.set_all_targets(true); }));
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.set_action_class(""); }));
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.mutable_workloads(0)->add_cgroup_paths("/a/../b"); }));
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.mutable_workloads(0)->add_exe_sha256("ABC"); }));
  EXPECT_TRUE(refused([](v1::HoldRule& r) {
    r.mutable_workloads(0)->clear_cgroup_paths();
    r.mutable_workloads(0)->clear_exe_paths();
  }));  // a workload without a selector would match everything
  EXPECT_TRUE(refused([](v1::HoldRule& r) { r.add_targets("bad id"); }));
}

// TargetIdsAt over what the gate holds: a CIDR, a port range, a node target
// over the node's addresses and a name over its current answers.
class NoGate : public TargetTable {
 public:
  absl::Status AddTarget(const target::Target&) override { return absl::OkStatus(); }
  absl::Status RemoveTarget(const target::Target&) override { return absl::OkStatus(); }
  bool ProtectsListedOnly() const override { return true; }
};
class AnyNames : public NameWatcher {
 public:
  absl::Status Watch(const std::vector<std::string>&) override { return absl::OkStatus(); }
};

TEST(TargetIdsAt, EachEntryCoveringTheDestinationNamesItsTarget) {
  taogate::testing::TempDir dir;
  ledger::LedgerOptions lo;
  lo.dir = (dir.path() / "ledger").string();
  lo.fsync = false;
  auto ledger = ledger::Ledger::Open(lo);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  NoGate gate;
  AnyNames names;
  TargetSyncOptions o;
  o.cache_path = (dir.path() / "t.pb").string();
  o.node_id = "n1";
  o.names = &names;
  TargetSync sync(gate, **ledger, nullptr, o);
  ASSERT_TRUE(sync.Start().ok());
  ASSERT_TRUE(sync.SetNodeAddresses({"192.0.2.7"}).ok());
  v1::ProtectedTargets m;
  m.set_policy_sha256(std::string(64, 'c'));
  auto add = [&](const char* id, const char* cidr, const char* host, uint32_t lo_port, uint32_t hi_port) {
    v1::ProtectedTarget* t = m.add_targets();
    t->set_proto(v1::TARGET_PROTO_TCP);
    t->set_cidr(cidr);
    t->set_host_name(host);
    t->set_port_from(lo_port);
    t->set_port_to(hi_port);
    t->set_name(id);
  };
  add("db", "10.0.0.0/24", "", 5432, 5432);
  add("range", "10.0.0.5/32", "", 5000, 6000);
  add("local", "node", "", 6379, 6379);
  add("named", "", "db.prod.internal", 5432, 5432);
  *m.add_hold() = Rule("h", {});
  m.mutable_hold(0)->set_all_workloads(true);
  ASSERT_TRUE(sync.Apply(m).ok());
  ASSERT_TRUE(sync.SetNameAddresses("db.prod.internal", {*target::ParseIp("10.0.0.5")}, {}, false, 60, {}).ok());
  auto at = [&](const char* dest) {
    return sync.TargetIdsAt(*target::Parse(dest, target::Form::kDestination));
  };
  EXPECT_EQ(at("tcp:10.0.0.5:5432"), (std::set<std::string>{"db", "range", "named"}));
  EXPECT_EQ(at("tcp:10.0.0.9:5432"), (std::set<std::string>{"db"}));
  EXPECT_EQ(at("tcp:192.0.2.7:6379"), (std::set<std::string>{"local"}));  // a node address
  EXPECT_EQ(at("tcp:127.0.0.1:6379"), (std::set<std::string>{"local"}));
  EXPECT_TRUE(at("tcp:10.0.1.5:5432").empty());
  EXPECT_TRUE(at("udp:10.0.0.5:5432").empty());
  EXPECT_EQ(sync.HoldRules().size(), 1u);
}

}  // namespace
}  // namespace taogate::agent
