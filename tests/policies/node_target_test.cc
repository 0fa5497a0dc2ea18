// The `node` keyword in a bundle's cidrs: loads, is exported once as a node
// range, and matches what the governor can know of every node (loopback)
// and nothing else.
#include <gtest/gtest.h>

#include "policy_testing.h"

namespace taogate::policies {
namespace {

using namespace testing;

std::string Bundle(const std::string& cidrs) {
  return R"(version: 1
name: node-bundle
roles: [{id: reporter}]
actors: [{identity: spiffe://t.example/sa/reporter, roles: [reporter]}]
workloads: [{id: any, selectors: {cgroup_paths: [/taogate]}}]
targets:
  - id: local-pg
    networks: [{cidrs: )" + cidrs + R"(, ports: [5432], protocols: [tcp]}]
action_classes: [{id: db.read, ttl: 60s}]
rules:
  - {id: r, effect: allow, actors: ["*"], workloads: ["*"], actions: [db.read], targets: [local-pg]}
)";
}

std::shared_ptr<const Policy> Load(const std::string& cidrs) {
  auto p = Policy::Load(Bundle(cidrs), "node.yaml");
  if (!p.ok()) ADD_FAILURE() << p.status();
  return p.ok() ? *p : nullptr;
}

Effect Eval(const Policy& p, const std::string& target) {
  WorkloadAttributes w;
  w.node = "n1";
  w.cgroup_path = "/taogate/w";
  return p.Evaluate(Req("spiffe://t.example/sa/reporter", "db.read", target, w)).effect;
}

TEST(NodeTargetPolicyTest, KeywordLoadsAndExportsOneNodeRange) {
  auto p = Load("[node]");
  ASSERT_TRUE(p);
  auto set = p->ProtectedTargets();
  ASSERT_EQ(set.networks.size(), 1u);
  EXPECT_TRUE(set.networks[0].range.node);
  EXPECT_EQ(set.networks[0].range.port_lo, 5432);
}

TEST(NodeTargetPolicyTest, MatchesLoopbackOnly) {
  auto p = Load("[node]");
  ASSERT_TRUE(p);
  EXPECT_EQ(Eval(*p, "tcp:127.0.0.1:5432"), Effect::kPermit);
  EXPECT_EQ(Eval(*p, "tcp:[::1]:5432"), Effect::kPermit);
  EXPECT_EQ(Eval(*p, "tcp:10.0.0.5:5432"), Effect::kDeny);  // the governor cannot know it is the node's
  EXPECT_EQ(Eval(*p, "tcp:127.0.0.1:5433"), Effect::kDeny);
}

TEST(NodeTargetPolicyTest, MisspelledKeywordIsRefusedWithItsPosition) {
  auto e = Errors(Bundle("[Node]"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].ToString().find("cidrs[0]"), std::string::npos) << e[0].ToString();
}

}  // namespace
}  // namespace taogate::policies
