// taogate::dns::Resolver against a real dnsmasq on loopback whose answers
// the test rewrites, and against fake resolvers that answer junk, garbage
// or nothing. TTLs of 1 s, so every wait here is a few seconds at most.
#include "taogate/dns/resolver.h"

#include <gtest/gtest.h>

#include "dns/dns_testing.h"
#include "testing/testing.h"

namespace taogate::dns {
namespace {

using namespace std::chrono_literals;
using testing::Dnsmasq;
using testing::Eventually;
using testing::FakeResolver;
using testing::Ips;
using testing::RecordingSink;
using testing::TestConfig;

class ResolverTest : public ::testing::Test {
 protected:
  // A resolver on `config`, watching `names`, started.
  void Watch(Config config, std::vector<std::string> names) {
    auto r = Resolver::Create(std::move(config), sink_);
    ASSERT_TRUE(r.ok()) << r.status();
    resolver_ = *std::move(r);
    ASSERT_TRUE(resolver_->SetNames(names).ok());
    resolver_->Start();
  }
  void WatchDnsmasq(const std::string& hosts, std::vector<std::string> names,
                    std::vector<std::string> cnames = {}) {
    dnsmasq_ = std::make_unique<Dnsmasq>(dir_.path(), hosts, 1, cnames);
    Watch(TestConfig({dnsmasq_->server()}), std::move(names));
  }
  NameStatus Status(const std::string& name) {
    for (auto& s : resolver_->Snapshot()) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no name " << name;
    return {};
  }
  // Waits for a change of `name` that adds `added` and removes `removed`.
  bool WaitChange(const std::string& name, std::vector<std::string> added, std::vector<std::string> removed) {
    return sink_.Wait([&](const std::vector<Change>& cs) {
      for (const auto& c : cs) {
        if (c.name == name && c.added == Ips(added) && c.removed == Ips(removed)) return true;
      }
      return false;
    });
  }
  uint64_t Failures(Failure f) { return resolver_->GetStats().table.failures[size_t(f)]; }

  taogate::testing::TempDir dir_;
  RecordingSink sink_;
  std::unique_ptr<Dnsmasq> dnsmasq_;
  std::unique_ptr<Resolver> resolver_;  // stopped before the servers go
};

TEST_F(ResolverTest, AddressAddedAndRemovedWhileRunning) {
  WatchDnsmasq("10.0.0.1 db.tg.test\n", {"db.tg.test"});
  ASSERT_TRUE(WaitChange("db.tg.test", {"10.0.0.1"}, {}));
  dnsmasq_->SetHosts("10.0.0.1 db.tg.test\n10.0.0.2 db.tg.test\n");
  ASSERT_TRUE(WaitChange("db.tg.test", {"10.0.0.2"}, {}));
  dnsmasq_->SetHosts("10.0.0.2 db.tg.test\n");
  ASSERT_TRUE(WaitChange("db.tg.test", {}, {"10.0.0.1"}));
  EXPECT_EQ(Status("db.tg.test").addrs, Ips({"10.0.0.2"}));
}

TEST_F(ResolverTest, TtlExpiryDrivesReResolution) {
  WatchDnsmasq("10.0.0.1 db.tg.test\n", {"db.tg.test"});
  ASSERT_TRUE(WaitChange("db.tg.test", {"10.0.0.1"}, {}));
  EXPECT_EQ(Status("db.tg.test").ttl_s, 1u);
  EXPECT_TRUE(Eventually([&] { return Status("db.tg.test").resolutions >= 3; }, 5s));
  EXPECT_EQ(sink_.changes().size(), 1u);  // same answer: no change
}

TEST_F(ResolverTest, TtlFloorHoldsBackReResolution) {
  dnsmasq_ = std::make_unique<Dnsmasq>(dir_.path(), "10.0.0.1 db.tg.test\n", 1);
  Config c = TestConfig({dnsmasq_->server()}, 10);
  c.table.ttl_floor_s = 3;
  Watch(c, {"db.tg.test"});
  ASSERT_TRUE(WaitChange("db.tg.test", {"10.0.0.1"}, {}));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Status("db.tg.test").resolutions, 1u);
  EXPECT_EQ(Status("db.tg.test").ttl_s, 3u);
}

TEST_F(ResolverTest, NameThatStopsResolvingKeepsItsAddresses) {
  WatchDnsmasq("10.0.0.1 db.tg.test\n", {"db.tg.test"});
  ASSERT_TRUE(WaitChange("db.tg.test", {"10.0.0.1"}, {}));
  dnsmasq_->SetHosts("10.0.0.9 other.tg.test\n");  // db.tg.test is NXDOMAIN now
  ASSERT_TRUE(Eventually([&] { return Failures(Failure::kNxDomain) > 0; }));
  EXPECT_EQ(Status("db.tg.test").addrs, Ips({"10.0.0.1"}));
  EXPECT_NE(Status("db.tg.test").stale_since_ns, 0);
  EXPECT_EQ(resolver_->GetStats().stale, 1u);
  EXPECT_EQ(sink_.changes().size(), 1u);
  dnsmasq_->SetHosts("10.0.0.1 db.tg.test\n");  // back: fresh again
  EXPECT_TRUE(Eventually([&] { return Status("db.tg.test").stale_since_ns == 0; }));
}

TEST_F(ResolverTest, CnameChainIsRecorded) {
  WatchDnsmasq("10.0.0.9 web.tg.test\n", {"alias2.tg.test"},
               {"alias.tg.test,web.tg.test", "alias2.tg.test,alias.tg.test"});
  ASSERT_TRUE(WaitChange("alias2.tg.test", {"10.0.0.9"}, {}));
  EXPECT_EQ(sink_.changes()[0].chain, (std::vector<std::string>{"alias.tg.test", "web.tg.test"}));
  EXPECT_EQ(Status("alias2.tg.test").chain, sink_.changes()[0].chain);
}

TEST_F(ResolverTest, AAndAaaaAreOneSet) {
  WatchDnsmasq("10.0.0.7 dual.tg.test\nfd00::7 dual.tg.test\n10.0.0.8 v4.tg.test\n",
               {"dual.tg.test", "v4.tg.test"});
  ASSERT_TRUE(WaitChange("dual.tg.test", {"10.0.0.7", "fd00::7"}, {}));
  ASSERT_TRUE(WaitChange("v4.tg.test", {"10.0.0.8"}, {}));
  dnsmasq_->SetHosts("fd00::7 dual.tg.test\n10.0.0.8 v4.tg.test\n");
  ASSERT_TRUE(WaitChange("dual.tg.test", {}, {"10.0.0.7"}));
}

TEST_F(ResolverTest, DroppedNameIsReportedUnwatched) {
  WatchDnsmasq("10.0.0.1 db.tg.test\n10.0.0.2 api.tg.test\n", {"db.tg.test", "api.tg.test"});
  ASSERT_TRUE(WaitChange("db.tg.test", {"10.0.0.1"}, {}));
  ASSERT_TRUE(resolver_->SetNames({"api.tg.test"}).ok());
  ASSERT_TRUE(WaitChange("db.tg.test", {}, {"10.0.0.1"}));
  EXPECT_TRUE(sink_.changes().back().unwatched);
  EXPECT_EQ(resolver_->Snapshot().size(), 1u);
}

TEST_F(ResolverTest, BadNamesAreRefusedWhole) {
  WatchDnsmasq("10.0.0.1 db.tg.test\n", {"db.tg.test"});
  EXPECT_FALSE(resolver_->SetNames({"ok.tg.test", "not a name"}).ok());
  EXPECT_EQ(resolver_->Snapshot().size(), 1u);
}

TEST_F(ResolverTest, RequireAdRefusesAnUnvalidatedAnswer) {
  dnsmasq_ = std::make_unique<Dnsmasq>(dir_.path(), "10.0.0.1 db.tg.test\n");
  Config c = TestConfig({dnsmasq_->server()});
  c.require_ad = true;
  Watch(c, {"db.tg.test"});
  ASSERT_TRUE(Eventually([&] { return Failures(Failure::kNoAd) > 0; }));
  EXPECT_TRUE(Status("db.tg.test").addrs.empty());
  EXPECT_TRUE(sink_.changes().empty());
}

TEST_F(ResolverTest, RequireAdAcceptsAValidatedAnswer) {
  FakeResolver fake(FakeResolver::Mode::kAnswer);
  fake.SetAnswer({"10.9.9.9"}, /*ad=*/true);
  Config c = TestConfig({fake.server()});
  c.require_ad = true;
  Watch(c, {"db.tg.test"});
  EXPECT_TRUE(WaitChange("db.tg.test", {"10.9.9.9"}, {}));
  resolver_.reset();
}


// A resolver that turns bad after a good answer: the name keeps its address,
// the failure is counted within a bounded time.
class BadResolverTest : public ResolverTest {
 protected:
  void TurnsBad(FakeResolver::Mode mode, Failure kind) {
    FakeResolver fake(FakeResolver::Mode::kAnswer);
    fake.SetAnswer({"10.9.9.9"}, false);
    Watch(TestConfig({fake.server()}), {"db.tg.test"});
    ASSERT_TRUE(WaitChange("db.tg.test", {"10.9.9.9"}, {}));
    fake.SetMode(mode);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(Eventually([&] { return Failures(kind) > 0; }, 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);  // TTL 1 s + 300 ms per try
    EXPECT_EQ(Status("db.tg.test").addrs, Ips({"10.9.9.9"}));
    EXPECT_NE(Status("db.tg.test").stale_since_ns, 0);
    EXPECT_EQ(sink_.changes().size(), 1u);
    resolver_.reset();  // before the fake goes
  }
};

TEST_F(BadResolverTest, JunkAnswersAreATimeoutAndKeepTheAddresses) {
  TurnsBad(FakeResolver::Mode::kJunk, Failure::kTimeout);
}

TEST_F(BadResolverTest, GarbageAnswersAreCountedAndKeepTheAddresses) {
  TurnsBad(FakeResolver::Mode::kGarbage, Failure::kGarbage);
}

TEST_F(BadResolverTest, SilentResolverIsATimeoutAndKeepsTheAddresses) {
  TurnsBad(FakeResolver::Mode::kSilent, Failure::kTimeout);
}

TEST_F(ResolverTest, SilentResolverFromTheStartGivesNothingInBoundedTime) {
  FakeResolver fake(FakeResolver::Mode::kSilent);
  Watch(TestConfig({fake.server()}), {"db.tg.test"});
  EXPECT_TRUE(Eventually([&] { return Failures(Failure::kTimeout) >= 2; }, 3s));
  EXPECT_FALSE(Status("db.tg.test").resolved);
  EXPECT_GE(fake.queries(), 2u);
  resolver_.reset();
}

TEST_F(ResolverTest, StopIsPromptWithQueriesInFlight) {
  FakeResolver fake(FakeResolver::Mode::kSilent);
  Config c = TestConfig({fake.server()});
  c.query_timeout_ms = 10000;
  Watch(c, {"a.tg.test", "b.tg.test"});
  ASSERT_TRUE(Eventually([&] { return fake.queries() >= 4; }));
  auto start = std::chrono::steady_clock::now();
  resolver_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace taogate::dns
