// The resolver's configuration (dns/config.h): servers, resolv.conf, ranges
// and the require_ad trust rule.
#include "taogate/dns/config.h"

#include <gtest/gtest.h>

#include "dns/dns_testing.h"
#include "testing/testing.h"

namespace taogate::dns {
namespace {

using testing::Ip;

TEST(DnsConfig, ServerForms) {
  EXPECT_EQ(*ParseServer("127.0.0.1:5353"), (Server{Ip("127.0.0.1"), 5353}));
  EXPECT_EQ(*ParseServer("10.96.0.10"), (Server{Ip("10.96.0.10"), 53}));
  EXPECT_EQ(*ParseServer("[fd00::53]:5300"), (Server{Ip("fd00::53"), 5300}));
  EXPECT_EQ(*ParseServer("[::1]"), (Server{Ip("::1"), 53}));
  for (const char* bad : {"", "dns.google:53", "1.2.3.4:0", "1.2.3.4:70000", "1.2.3.4:", "::1:53", "[::1", "[::1]53"}) {
    EXPECT_FALSE(ParseServer(bad).ok()) << bad;
  }
}

TEST(DnsConfig, ResolvConfNameservers) {
  auto s = ResolvConfServers("search default.svc.cluster.local svc.cluster.local\n"
                             "nameserver 10.96.0.10\noptions ndots:5\n# nameserver 9.9.9.9\n"
                             "nameserver fe80::1%eth0\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (std::vector<Server>{{Ip("10.96.0.10"), 53}, {Ip("fe80::1"), 53}}));
  EXPECT_EQ(ResolvConfServers("search x\n").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DnsConfig, EmptyServersMeansResolvConf) {
  taogate::testing::TempDir dir;
  taogate::testing::WriteFile(dir.path() / "resolv.conf", "nameserver 127.0.0.53\n");
  Config c;
  c.resolv_conf = (dir.path() / "resolv.conf").string();
  EXPECT_EQ(*EffectiveServers(c), (std::vector<Server>{{Ip("127.0.0.53"), 53}}));
  c.resolv_conf = (dir.path() / "missing").string();
  EXPECT_EQ(EffectiveServers(c).status().code(), absl::StatusCode::kFailedPrecondition);
  c.servers = {"127.0.0.1:5353"};  // configured servers win; the file is not read
  EXPECT_EQ(*EffectiveServers(c), (std::vector<Server>{{Ip("127.0.0.1"), 5353}}));
}

TEST(DnsConfig, RequireAdTrustsOnlyLoopbackUnlessVouchedFor) {
  Config c;
  c.require_ad = true;
  EXPECT_TRUE(Validate(c, {{Ip("127.0.0.1"), 53}, {Ip("::1"), 53}}).ok());
  EXPECT_FALSE(Validate(c, {{Ip("10.96.0.10"), 53}}).ok());
  c.ad_trusted_path = true;
  EXPECT_TRUE(Validate(c, {{Ip("10.96.0.10"), 53}}).ok());
}

TEST(DnsConfig, Ranges) {
  std::vector<Server> s = {{Ip("127.0.0.1"), 53}};
  EXPECT_TRUE(Validate(Config{}, s).ok());
  Config c;
  c.table.ttl_floor_s = 0;
  EXPECT_FALSE(Validate(c, s).ok());
  c = Config{};
  c.table.ttl_ceiling_s = 1;  // below the floor
  EXPECT_FALSE(Validate(c, s).ok());
  c = Config{};
  c.table.max_addresses = 0;
  EXPECT_FALSE(Validate(c, s).ok());
  c = Config{};
  c.max_inflight = 0;
  EXPECT_FALSE(Validate(c, s).ok());
  EXPECT_FALSE(Validate(Config{}, {}).ok());
}

}  // namespace
}  // namespace taogate::dns
