// Node targets ("tcp:node:5432") without root: the spelling, the expansion
// over a node's addresses, config and governor-message validation, and the
// wildcard-listener warning fed with sample /proc/net text.
#include "taogate/agent/node_addresses.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "taogate/agent/config.h"
#include "taogate/agent/target_sync.h"
#include "taogate/agent/wildcard_listeners.h"
#include "taogate/target/target.h"

namespace taogate::agent {
namespace {

absl::StatusOr<target::Target> ParseNodeTarget(const std::string& spec) {
  return target::Parse(spec, target::Form::kProtected);
}

std::string ParseError(const std::string& spec) {
  auto t = ParseNodeTarget(spec);
  return t.ok() ? "ok" : std::string(t.status().message());
}

bool IsNodeTargetSpec(const std::string& spec) {
  auto t = ParseNodeTarget(spec);
  return t.ok() && t->network() && t->host == target::Host::kNode;
}

std::vector<std::string> Cidrs(const std::vector<target::Target>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(target::FormatPrefix(t.prefix));
  return out;
}

absl::Status ValidateConfigTargets(std::vector<std::string> targets) {
  AgentConfig c;
  c.node_id = "n1";
  c.cgroup2_mount = "/sys/fs/cgroup";
  c.protected_targets = std::move(targets);
  return FinalizeConfig(c);
}

v1::ProtectedTargets OneNetTarget(const std::string& cidr, uint32_t port) {
  v1::ProtectedTargets m;
  m.set_policy_sha256(std::string(64, 'a'));
  auto* t = m.add_targets();
  t->set_proto(v1::TARGET_PROTO_TCP);
  t->set_cidr(cidr);
  t->set_port_from(port);
  t->set_port_to(port);
  return m;
}

TEST(NodeTargetTest, GoodSpellingsParse) {
  auto t = ParseNodeTarget("tcp:node:5432");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->proto, target::Proto::kTcp);
  EXPECT_EQ(t->port_lo, 5432);
  EXPECT_EQ(t->host, target::Host::kNode);
  EXPECT_EQ(ParseError("udp:node:53"), "ok");
  EXPECT_EQ(ParseError("any:node:8000-8010"), "ok");
  EXPECT_EQ(ParseError("tcp:node:*"), "ok");
}

TEST(NodeTargetTest, MissingPortIsRefusedByName) {
  EXPECT_NE(ParseError("tcp:node").find("missing port"), std::string::npos);
  EXPECT_NE(ParseError("tcp:node:").find("missing port"), std::string::npos);
}

TEST(NodeTargetTest, BadPortOrProtoIsRefused) {
  EXPECT_NE(ParseError("tcp:node:0").find("bad port"), std::string::npos);
  EXPECT_NE(ParseError("tcp:node:70000").find("bad port"), std::string::npos);
  EXPECT_NE(ParseError("tcp:node:9-3").find("bad port range"), std::string::npos);
  EXPECT_NE(ParseError("sctp:node:1").find("bad protocol"), std::string::npos);
}

TEST(NodeTargetTest, OnlyTheExactKeywordIsANodeTarget) {
  EXPECT_TRUE(IsNodeTargetSpec("tcp:node:1"));
  EXPECT_FALSE(IsNodeTargetSpec("tcp:Node:1"));
  EXPECT_FALSE(IsNodeTargetSpec("tcp:node/32:1"));
  EXPECT_FALSE(IsNodeTargetSpec("tcp:nodes:1"));
  EXPECT_FALSE(IsNodeTargetSpec("unix:node:1"));
  EXPECT_NE(ParseError("tcp:Node:1").find("single-label name"), std::string::npos);
}

TEST(NodeTargetTest, ConfigAcceptsNodeTargetsAndNamesBadOnes) {
  EXPECT_TRUE(ValidateConfigTargets({"tcp:node:5432", "udp:node:53"}).ok());
  absl::Status st = ValidateConfigTargets({"tcp:node:0"});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("tcp:node:0"), std::string::npos) << st;
  EXPECT_FALSE(ValidateConfigTargets({"tcp:nod:5432"}).ok());
}

TEST(NodeTargetTest, GovernorMessageMayCarryTheKeyword) {
  EXPECT_TRUE(ValidateProtectedTargets(OneNetTarget("node", 5432)).ok());
  EXPECT_FALSE(ValidateProtectedTargets(OneNetTarget("Node", 5432)).ok());
  EXPECT_FALSE(ValidateProtectedTargets(OneNetTarget("node/32", 5432)).ok());
}

TEST(NodeTargetTest, ExpandsToLoopbackAndEveryInterfaceAddress) {
  auto node = ParseNodeTarget("tcp:node:5432");
  ASSERT_TRUE(node.ok());
  auto ts = ExpandNodeTarget(*node, {"10.0.0.5", "127.0.0.1", "::1", "fe80::1", "not-an-ip", "10.0.0.5",
                                     "2001:db8::0:7"});
  EXPECT_EQ(Cidrs(ts), (std::vector<std::string>{"127.0.0.0/8", "::1/128", "10.0.0.5/32", "2001:db8::7/128",
                                                 "fe80::1/128"}));
  for (const auto& t : ts) EXPECT_EQ(t.port_lo, 5432);
}

TEST(NodeTargetTest, NoInterfaceAddressStillCoversLoopback) {
  auto node = ParseNodeTarget("udp:node:53");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(Cidrs(ExpandNodeTarget(*node, {})), (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
}

TEST(NodeTargetTest, AddressChangeDiffsByCidr) {
  auto node = ParseNodeTarget("tcp:node:5432");
  ASSERT_TRUE(node.ok());
  auto before = Cidrs(ExpandNodeTarget(*node, {"10.0.0.5", "10.0.0.6"}));
  auto after = Cidrs(ExpandNodeTarget(*node, {"10.0.0.6", "10.0.0.7"}));
  std::vector<std::string> gone, added;
  for (const auto& c : before)
    if (std::find(after.begin(), after.end(), c) == after.end()) gone.push_back(c);
  for (const auto& c : after)
    if (std::find(before.begin(), before.end(), c) == before.end()) added.push_back(c);
  EXPECT_EQ(gone, std::vector<std::string>{"10.0.0.5/32"});
  EXPECT_EQ(added, std::vector<std::string>{"10.0.0.7/32"});
}

// /proc/net samples: a wildcard TCP listener on 5432 (0x1538), a loopback
// one on 6000, an established socket, and the header.
constexpr char kTcp[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1087 1\n"
    "   1: 0100007F:1770 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1088 1\n"
    "   2: 00000000:1539 0100007F:A8A8 01 00000000:00000000 00:00000000 00000000     0        0 0 3\n";
constexpr char kTcp6[] =
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0 0\n"
    "   1: 00000000000000000000000001000000:0051 00000000000000000000000000000000:0000 0A 0 0\n";
constexpr char kUdp[] =
    "  sl  local_address rem_address   st\n"
    "  10: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 5 2\n"
    "  11: 00000000:0036 0100007F:0035 01 00000000:00000000 00:00000000 00000000 0 0 6 2\n";

TEST(WildcardListenersTest, FindsOnlyWildcardTcpListeners) {
  auto l = ParseProcNetWildcards(kTcp, 6, false);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].port, 5432);
}

TEST(WildcardListenersTest, FindsIpv6AnyButNotIpv6Loopback) {
  auto l = ParseProcNetWildcards(kTcp6, 6, true);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].port, 80);
  EXPECT_TRUE(l[0].v6);
}

TEST(WildcardListenersTest, FindsUnconnectedWildcardUdpOnly) {
  auto l = ParseProcNetWildcards(kUdp, 17, false);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].port, 53);
}

TEST(WildcardListenersTest, GarbageIsSkipped) {
  EXPECT_TRUE(ParseProcNetWildcards("garbage\n0: zz:zz 0 0A\n\n", 6, false).empty());
}

TEST(WildcardListenersTest, LoopbackTargetOnWildcardPortWarnsAndSuggestsNodeTarget) {
  auto w = WildcardExposureWarnings({"tcp:127.0.0.1:5432"}, ParseProcNetWildcards(kTcp, 6, false));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("tcp:127.0.0.1:5432"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("tcp:node:5432"), std::string::npos) << w[0];
}

TEST(WildcardListenersTest, OtherPortsProtocolsAndNonLoopbackTargetsDoNotWarn) {
  auto l = ParseProcNetWildcards(kTcp, 6, false);
  EXPECT_TRUE(WildcardExposureWarnings({"tcp:127.0.0.1:6000", "udp:127.0.0.1:5432", "tcp:10.0.0.5:5432",
                                        "tcp:node:5432", "tcp:0.0.0.0/0:5432"},
                                       l)
                  .empty());
}

TEST(WildcardListenersTest, Ipv6LoopbackRangesAndAnyPortWarn) {
  auto l = ParseProcNetWildcards(kTcp6, 6, true);
  auto u = ParseProcNetWildcards(kUdp, 17, false);
  l.insert(l.end(), u.begin(), u.end());
  EXPECT_EQ(WildcardExposureWarnings({"tcp:[::1]/128:80"}, l).size(), 1u);
  EXPECT_EQ(WildcardExposureWarnings({"tcp:[::1/128]:80"}, l).size(), 1u);
  EXPECT_EQ(WildcardExposureWarnings({"any:127.0.0.0/8:1-100"}, l).size(), 2u);
  EXPECT_EQ(WildcardExposureWarnings({"udp:127.0.0.1:*"}, l).size(), 1u);
}

}  // namespace
}  // namespace taogate::agent
