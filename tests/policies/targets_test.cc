// The policy form of targets (TargetRef, NetRange) over target::Target; the
// grammar's own cases live in tests/target/target_test.cc.
#include <gtest/gtest.h>

#include "taogate/policies/targets.h"

namespace taogate::policies {
namespace {

TEST(TargetsTest, PolicyFormCarriesTheCanonicalDestination) {
  auto t = ParseTargetRef("udp:[::ffff:10.20.0.5]:53");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->kind, TargetKind::kUdp);
  EXPECT_EQ(t->address, "10.20.0.5");
  EXPECT_EQ(t->port, 53);
  EXPECT_EQ(FormatTargetRef(*t), "udp:10.20.0.5:53");
  EXPECT_EQ(ParseTargetRef("exec:/usr/bin/psql")->path, "/usr/bin/psql");
  EXPECT_FALSE(ParseTargetRef("tcp:10.0.0.0/8:1").ok());
}

TEST(TargetsTest, CidrRangesAndNode) {
  auto r = ParseCidr("10.1.128.0/17");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prefix_len, 17);
  EXPECT_TRUE(CidrContains(*r, *ParseIp("10.1.255.255")));
  EXPECT_EQ(CidrText(*r), "10.1.128.0/17");
  EXPECT_FALSE(ParseCidr("10.0.0.1/8").ok());
  auto node = ParseCidrOrNode("node");
  ASSERT_TRUE(node.ok());
  ASSERT_EQ(node->size(), 2u);
  EXPECT_EQ(CidrText((*node)[0]), "node");
}

TEST(TargetsTest, PathUnderIsComponentWise) {
  EXPECT_TRUE(PathUnder("/a/b", "/a/b"));
  EXPECT_TRUE(PathUnder("/a/b/c", "/a/b/"));
  EXPECT_FALSE(PathUnder("/a/bc", "/a/b"));
  EXPECT_TRUE(PathUnder("/x", "/"));
}

}  // namespace
}  // namespace taogate::policies
