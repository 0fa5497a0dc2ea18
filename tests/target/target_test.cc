// target::Target: every input the former parsers accepted or refused.
#include "taogate/target/target.h"

#include <gtest/gtest.h>

#include "taogate/target/target_proto.h"

namespace taogate::target {
namespace {

absl::StatusOr<Target> Dest(std::string_view s) { return Parse(s, Form::kDestination); }
absl::StatusOr<Target> Prot(std::string_view s) { return Parse(s, Form::kProtected); }
std::string Error(const absl::StatusOr<Target>& t) { return t.ok() ? "ok" : std::string(t.status().message()); }

// Destinations (what a request or TAO names).

TEST(TargetDestinationTest, ParsesAndFormatsEveryKind) {
  for (const char* s : {"tcp:10.0.0.5:5432", "udp:[fd00::53]:53", "unix:/run/pg/.s.PGSQL.5432",
                        "file:/etc/x", "exec:/usr/bin/psql"}) {
    auto t = Dest(s);
    ASSERT_TRUE(t.ok()) << s << ": " << t.status();
    EXPECT_EQ(Format(*t), s);
  }
}

TEST(TargetDestinationTest, RefusesMalformedTargets) {
  for (const char* s : {"tcp:10.0.0.5", "tcp:10.0.0.5:0", "tcp:10.0.0.5:65536", "tcp:host:80",
                        "sctp:10.0.0.1:1", "file:relative", "file:/a/../b", "file:/a//b",
                        "unix:/a/", "udp:fd00::1:53", "exec:", "tcp:10.0.0.0/8:1", "tcp:10.0.0.5:*",
                        "tcp:10.0.0.5:1-2", "any:10.0.0.5:1", "tcp:node:1", "x"}) {
    EXPECT_FALSE(Dest(s).ok()) << s;
  }
}

TEST(TargetDestinationTest, V4MappedIsTheV4Host) {
  auto t = Dest("tcp:[::ffff:10.20.0.5]:80");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Format(*t), "tcp:10.20.0.5:80");
  EXPECT_TRUE(t->single_destination());
}

// Protected targets (agent config, kernel gate).

TEST(TargetProtectedTest, TcpCidrPort) {
  auto t = Prot("tcp:10.0.0.0/8:5432");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->proto, Proto::kTcp);
  EXPECT_EQ(FormatPrefix(t->prefix), "10.0.0.0/8");
  EXPECT_EQ(t->port_lo, 5432);
  EXPECT_EQ(t->port_hi, 5432);
}

TEST(TargetProtectedTest, BracketedV6AndRange) {
  auto t = Prot("any:[fd00::]/64:1000-2000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->proto, Proto::kAny);
  EXPECT_EQ(FormatPrefix(t->prefix), "fd00::/64");
  EXPECT_EQ(t->port_lo, 1000);
  EXPECT_EQ(t->port_hi, 2000);
  EXPECT_EQ(Format(*t), "any:[fd00::]/64:1000-2000");
  EXPECT_EQ(FormatPrefix(Prot("tcp:[::1/128]:80")->prefix), "::1/128");
  EXPECT_EQ(FormatPrefix(Prot("tcp:::1:80")->prefix), "::1/128");  // unbracketed: the last ':' ends it
}

TEST(TargetProtectedTest, EveryPortAndUnix) {
  auto t = Prot("udp:127.0.0.1:*");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port_lo, 0);
  EXPECT_EQ(Format(*t), "udp:127.0.0.1:*");
  EXPECT_EQ(Format(*Prot("tcp:1.2.3.4:1-65535")), "tcp:1.2.3.4:*");
  auto u = Prot("unix:/run/postgresql/.s.PGSQL.5432");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->path, "/run/postgresql/.s.PGSQL.5432");
}

TEST(TargetProtectedTest, HostBitsAreClearedAndMappedPrefixesAreV4) {
  EXPECT_EQ(Format(*Prot("tcp:10.1.2.3/8:1")), "tcp:10.0.0.0/8:1");
  EXPECT_EQ(Format(*Prot("tcp:[::ffff:10.0.0.0]/104:1")), "tcp:10.0.0.0/8:1");
  EXPECT_FALSE(Prot("tcp:[::ffff:10.0.0.0]/8:1").ok());
}

TEST(TargetProtectedTest, Rejects) {
  for (const char* bad : {"tcp:10.0.0.0/8", "sctp:1.2.3.4:1", "tcp:1.2.3.4/33:1", "tcp:1.2.3.4:0",
                          "tcp:1.2.3.4:70000", "tcp:1.2.3.4:9-3", "tcp:nothost:1", "unix:", "x",
                          "file:/etc/x", "tcp:[::1:80"}) {
    EXPECT_FALSE(Prot(bad).ok()) << bad;
  }
}

TEST(TargetProtectedTest, NodeKeyword) {
  auto t = Prot("tcp:node:5432");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, Host::kNode);
  EXPECT_EQ(t->port_lo, 5432);
  EXPECT_EQ(Format(*t), "tcp:node:5432");
  EXPECT_EQ(Error(Prot("udp:node:53")), "ok");
  EXPECT_EQ(Error(Prot("any:node:8000-8010")), "ok");
  EXPECT_EQ(Error(Prot("tcp:node:*")), "ok");
  EXPECT_NE(Error(Prot("tcp:node")).find("missing port"), std::string::npos);
  EXPECT_NE(Error(Prot("tcp:node:")).find("missing port"), std::string::npos);
  EXPECT_NE(Error(Prot("tcp:node:0")).find("bad port"), std::string::npos);
  EXPECT_NE(Error(Prot("tcp:node:9-3")).find("bad port range"), std::string::npos);
  EXPECT_NE(Error(Prot("sctp:node:1")).find("bad protocol"), std::string::npos);
  EXPECT_FALSE(Prot("tcp:[node]:1").ok());
  EXPECT_EQ(Prot("unix:node:1")->proto, Proto::kUnix);  // a (relative) unix path, never a node target
}

TEST(TargetProtectedTest, NamesAreNotAddresses) {  // the name grammar: names_test.cc
  EXPECT_EQ(Prot("tcp:db.prod.internal:5432")->host, Host::kName);
  EXPECT_NE(Error(Prot("tcp:Node:1")).find("single-label"), std::string::npos);
  EXPECT_EQ(Error(Prot("tcp:10.0.0.300:1")).find("DNS name"), std::string::npos);
}

// Addresses and CIDRs.

TEST(TargetCidrTest, ExactCidrHostBitsAndContainment) {
  EXPECT_FALSE(ParseCidr("10.0.0.1/8", CidrForm::kExact).ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0/33", CidrForm::kExact).ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0", CidrForm::kExact).ok());
  auto r = ParseCidr("10.1.128.0/17", CidrForm::kExact);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(Contains(*r, *ParseIp("10.1.255.255")));
  EXPECT_FALSE(Contains(*r, *ParseIp("10.1.127.255")));
  auto any = ParseCidr("::/0", CidrForm::kExact);
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(Contains(*any, *ParseIp("fd00::1")));
  EXPECT_FALSE(Contains(*any, *ParseIp("10.0.0.1")));  // families never mix
}

TEST(TargetCidrTest, V4MappedV6IsTheV4Host) {
  auto ip = ParseIp("::ffff:10.20.0.5");
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->family, 4);
  EXPECT_TRUE(Contains(*ParseCidr("10.20.0.0/24", CidrForm::kExact), *ip));
  EXPECT_EQ(ParseIp("::10.20.0.5")->family, 6);  // IPv4-compatible: not mapped
}

TEST(TargetCidrTest, LenientCidrIsCanonicalised) {
  EXPECT_EQ(FormatPrefix(*ParseCidr("10.1.2.3/8", CidrForm::kLenient)), "10.0.0.0/8");
  EXPECT_EQ(FormatPrefix(*ParseCidr("10.1.2.3", CidrForm::kLenient)), "10.1.2.3/32");
  EXPECT_EQ(FormatPrefix(*ParseCidr("2001:db8::0:7", CidrForm::kLenient)), "2001:db8::7/128");
  for (const char* bad : {"10.0.0.300/8", "10.0.0.0/33", "[::1]/128", "10.0.0.0/", "10.0.0.0/x", "node"})
    EXPECT_FALSE(ParseCidr(bad, CidrForm::kLenient).ok()) << bad;
}

TEST(TargetPortsTest, RangesTheKernelCanHold) {
  EXPECT_TRUE(CheckPortRange(0, 0).ok());
  EXPECT_TRUE(CheckPortRange(1, 65535).ok());
  EXPECT_TRUE(CheckPortRange(5432, 5432).ok());
  EXPECT_FALSE(CheckPortRange(5432, 5000).ok());
  EXPECT_FALSE(CheckPortRange(0, 5).ok());
  EXPECT_FALSE(CheckPortRange(1, 70000).ok());
  EXPECT_FALSE(CheckPortRange(1000, 9000).ok());
}

// Proto forms.

TEST(TargetProtoTest, DestinationRoundTrips) {
  for (const char* s : {"tcp:10.0.0.5:5432", "udp:[fd00::53]:53", "unix:/run/x.sock", "exec:/bin/sh"}) {
    auto t = Dest(s);
    ASSERT_TRUE(t.ok()) << s;
    auto back = FromProto(ToProto(*t));
    ASSERT_TRUE(back.ok()) << s << ": " << back.status();
    EXPECT_EQ(Format(*back), s);
  }
}

TEST(TargetProtoTest, DestinationRefusals) {
  v1::Target t;
  EXPECT_FALSE(FromProto(t).ok());  // no proto
  t.set_proto(v1::TARGET_PROTO_TCP);
  t.set_address("10.0.0.5");
  EXPECT_FALSE(FromProto(t).ok());  // no port
  t.set_port(70000);
  EXPECT_FALSE(FromProto(t).ok());
  t.set_port(80);
  t.set_address("[::1]");
  EXPECT_FALSE(FromProto(t).ok());
  t.set_address("10.0.0.5");
  t.set_path("/x");
  EXPECT_FALSE(FromProto(t).ok());
  t.Clear();
  t.set_proto(v1::TARGET_PROTO_UNIX);
  t.set_path("/x");
  t.set_port(1);
  EXPECT_FALSE(FromProto(t).ok());
}

TEST(TargetProtoTest, ProtectedEntries) {
  v1::ProtectedTarget p;
  p.set_proto(v1::TARGET_PROTO_TCP);
  p.set_cidr("node");
  p.set_port_from(1);
  p.set_port_to(65535);
  auto t = FromProto(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Format(*t), "tcp:node:*");
  p.set_cidr("10.1.2.3/8");
  p.set_port_from(5432);
  p.set_port_to(5433);
  EXPECT_EQ(Format(*FromProto(p)), "tcp:10.0.0.0/8:5432-5433");
  p.set_cidr("Node");
  EXPECT_FALSE(FromProto(p).ok());
  p.set_cidr("10.0.0.0/8");
  p.set_port_to(5000);
  EXPECT_FALSE(FromProto(p).ok());
}

}  // namespace
}  // namespace taogate::target

namespace taogate::target {
namespace {

// Covers: what a protected entry (as the gate holds it) covers of one
// destination; hold mode uses it to name the target a held connect is for.
TEST(TargetCoversTest, ProtocolPrefixAndPortRangeMustAllHold) {
  auto p = [](const char* t) { return *Parse(t, Form::kProtected); };
  auto d = [](const char* t) { return *Parse(t, Form::kDestination); };
  EXPECT_TRUE(Covers(p("tcp:10.0.0.0/24:5432"), d("tcp:10.0.0.9:5432")));
  EXPECT_FALSE(Covers(p("tcp:10.0.0.0/24:5432"), d("tcp:10.0.1.9:5432")));
  EXPECT_FALSE(Covers(p("tcp:10.0.0.0/24:5432"), d("udp:10.0.0.9:5432")));
  EXPECT_FALSE(Covers(p("tcp:10.0.0.0/24:5432"), d("tcp:10.0.0.9:5433")));
  EXPECT_TRUE(Covers(p("tcp:10.0.0.9:5000-6000"), d("tcp:10.0.0.9:6000")));
  EXPECT_TRUE(Covers(p("any:10.0.0.9:*"), d("udp:10.0.0.9:53")));
  EXPECT_FALSE(Covers(p("tcp:[::1]:5432"), d("tcp:127.0.0.1:5432")));  // families never mix
  EXPECT_TRUE(Covers(p("unix:/run/pg/.s.PGSQL.5432"), d("unix:/run/pg/.s.PGSQL.5432")));
  EXPECT_FALSE(Covers(p("unix:/run/pg/.s.PGSQL.5432"), d("unix:/run/pg/x")));
  EXPECT_FALSE(Covers(p("tcp:node:5432"), d("tcp:127.0.0.1:5432")));  // unexpanded
}

}  // namespace
}  // namespace taogate::target
