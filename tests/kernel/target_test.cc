// ParseTarget: the operator/policy syntax for protected targets.
#include <gtest/gtest.h>

#include "taogate/bpf/gate.h"

namespace taogate::bpf {
namespace {

TEST(ParseTargetTest, TcpCidrPort) {
  auto t = ParseTarget("tcp:10.0.0.0/8:5432");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->proto, Proto::kTcp);
  EXPECT_EQ(t->cidr, "10.0.0.0/8");
  EXPECT_EQ(t->port_lo, 5432);
  EXPECT_EQ(t->port_hi, 5432);
}

TEST(ParseTargetTest, BracketedV6AndRange) {
  auto t = ParseTarget("any:[fd00::]/64:1000-2000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->proto, Proto::kAny);
  EXPECT_EQ(t->cidr, "fd00::/64");
  EXPECT_EQ(t->port_lo, 1000);
  EXPECT_EQ(t->port_hi, 2000);
}

TEST(ParseTargetTest, EveryPortAndUnix) {
  auto t = ParseTarget("udp:127.0.0.1:*");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port_lo, 0);
  auto u = ParseTarget("unix:/run/postgresql/.s.PGSQL.5432");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->unix_path, "/run/postgresql/.s.PGSQL.5432");
}

TEST(ParseTargetTest, Rejects) {
  for (const char* bad : {"tcp:10.0.0.0/8", "sctp:1.2.3.4:1", "tcp:1.2.3.4/33:1", "tcp:1.2.3.4:0",
                          "tcp:1.2.3.4:70000", "tcp:1.2.3.4:9-3", "tcp:nothost:1", "unix:", "x"}) {
    EXPECT_FALSE(ParseTarget(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace taogate::bpf
