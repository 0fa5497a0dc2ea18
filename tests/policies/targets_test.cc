#include <gtest/gtest.h>

#include "taogate/policies/targets.h"

namespace taogate::policies {
namespace {

TEST(TargetsTest, ParsesAndFormatsEveryKind) {
  for (const char* s : {"tcp:10.0.0.5:5432", "udp:[fd00::53]:53", "unix:/run/pg/.s.PGSQL.5432",
                        "file:/etc/x", "exec:/usr/bin/psql"}) {
    auto t = ParseTargetRef(s);
    ASSERT_TRUE(t.ok()) << s << ": " << t.status();
    EXPECT_EQ(FormatTargetRef(*t), s);
  }
}

TEST(TargetsTest, RefusesMalformedTargets) {
  for (const char* s : {"tcp:10.0.0.5", "tcp:10.0.0.5:0", "tcp:10.0.0.5:65536", "tcp:host:80",
                        "sctp:10.0.0.1:1", "file:relative", "file:/a/../b", "file:/a//b",
                        "unix:/a/", "udp:fd00::1:53", "exec:"}) {
    EXPECT_FALSE(ParseTargetRef(s).ok()) << s;
  }
}

TEST(TargetsTest, CidrHostBitsAndContainment) {
  EXPECT_FALSE(ParseCidr("10.0.0.1/8").ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0/33").ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0").ok());
  auto r = ParseCidr("10.1.128.0/17");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(CidrContains(*r, *ParseIp("10.1.255.255")));
  EXPECT_FALSE(CidrContains(*r, *ParseIp("10.1.127.255")));
  auto any = ParseCidr("::/0");
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(CidrContains(*any, *ParseIp("fd00::1")));
  EXPECT_FALSE(CidrContains(*any, *ParseIp("10.0.0.1")));  // families never mix
}

TEST(TargetsTest, PathUnderIsComponentWise) {
  EXPECT_TRUE(PathUnder("/a/b", "/a/b"));
  EXPECT_TRUE(PathUnder("/a/b/c", "/a/b/"));
  EXPECT_FALSE(PathUnder("/a/bc", "/a/b"));
  EXPECT_TRUE(PathUnder("/x", "/"));
}

}  // namespace
}  // namespace taogate::policies

namespace taogate::policies {
namespace {

TEST(TargetsTest, V4MappedV6IsTheV4Host) {
  auto ip = ParseIp("::ffff:10.20.0.5");
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->family, 4);
  EXPECT_TRUE(CidrContains(*ParseCidr("10.20.0.0/24"), *ip));
  EXPECT_EQ(ParseIp("::10.20.0.5")->family, 6);  // IPv4-compatible: not mapped
}

}  // namespace
}  // namespace taogate::policies
