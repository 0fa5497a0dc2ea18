// The resolver's pure core (dns/name_table.h) driven by hand: diffs, TTL
// clamping and scheduling, fail closed, caps, and Classify's verdicts.
#include "taogate/dns/name_table.h"

#include <gtest/gtest.h>

#include "dns/dns_testing.h"

namespace taogate::dns {
namespace {

using testing::Ips;
using testing::ResponseBuilder;
using Outcome = FamilyResult::Outcome;

constexpr int64_t kS = 1'000'000'000;
const std::string kName = "db.tg.test";

FamilyResult Addrs(std::vector<std::string> ips, uint32_t ttl = 60) {
  FamilyResult r;
  r.outcome = Outcome::kAddresses;
  r.addrs = Ips(ips);
  r.ttl_s = ttl;
  return r;
}
FamilyResult NoData() {
  FamilyResult r;
  r.outcome = Outcome::kNoData;
  return r;
}
FamilyResult Fail(Failure f) { return FailedResult(f, "x"); }
TableOptions Options(size_t max_addresses = 4, double jitter = 0) {
  TableOptions o;
  o.ttl_floor_s = 5;
  o.ttl_ceiling_s = 300;
  o.retry_max_s = 40;
  o.max_addresses = max_addresses;
  o.jitter = jitter;
  o.seed = 42;
  return o;
}

class NameTableTest : public ::testing::Test {
 protected:
  NameTable table_{Options()};
  int64_t now_ = 100 * kS;

  void SetUp() override { table_.SetNames({kName}, now_); }
  // One resolution of kName at now_: returns the change, if any.
  std::optional<Change> Resolve(const FamilyResult& v4, const FamilyResult& v6 = NoData()) {
    EXPECT_EQ(table_.TakeDue(now_, 10), std::vector<std::string>{kName});
    return table_.Apply(kName, v4, v6, now_);
  }
  NameStatus Status() { return table_.Snapshot().at(0); }
};

TEST(DnsTtl, ClampedToFloorAndCeiling) {
  EXPECT_EQ(ClampTtl(0, 5, 300), 5u);
  EXPECT_EQ(ClampTtl(60, 5, 300), 60u);
  EXPECT_EQ(ClampTtl(86400, 5, 300), 300u);
}

TEST_F(NameTableTest, FirstAnswerAddsEverything) {
  auto c = Resolve(Addrs({"10.0.0.2", "10.0.0.1"}), Addrs({"fd00::1"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->added, Ips({"10.0.0.1", "10.0.0.2", "fd00::1"}));
  EXPECT_TRUE(c->removed.empty());
}

TEST_F(NameTableTest, ChangeIsTheDiff) {
  Resolve(Addrs({"10.0.0.1", "10.0.0.2"}));
  now_ += 60 * kS;
  auto c = Resolve(Addrs({"10.0.0.2", "10.0.0.3"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->added, Ips({"10.0.0.3"}));
  EXPECT_EQ(c->removed, Ips({"10.0.0.1"}));
}

TEST_F(NameTableTest, SameAnswerIsNoChange) {
  Resolve(Addrs({"10.0.0.1"}));
  now_ += 60 * kS;
  EXPECT_FALSE(Resolve(Addrs({"10.0.0.1"})));
  EXPECT_EQ(table_.stats().changes, 1u);
}

TEST_F(NameTableTest, TtlIsClampedAndDrivesTheNextResolution) {
  Resolve(Addrs({"10.0.0.1"}, 1));
  EXPECT_EQ(Status().ttl_s, 5u);
  EXPECT_TRUE(table_.TakeDue(now_ + 4 * kS, 10).empty());
  EXPECT_EQ(table_.NextDueNs(), now_ + 5 * kS);
  now_ += 5 * kS;
  Resolve(Addrs({"10.0.0.1"}, 100000));
  EXPECT_EQ(Status().ttl_s, 300u);
  EXPECT_EQ(table_.NextDueNs(), now_ + 300 * kS);
}

TEST_F(NameTableTest, LowestTtlOfTheFamiliesWins) {
  Resolve(Addrs({"10.0.0.1"}, 120), Addrs({"fd00::1"}, 30));
  EXPECT_EQ(Status().ttl_s, 30u);
}

TEST_F(NameTableTest, JitterOnlyShortensTheWait) {
  NameTable t(Options(64, 0.1));
  t.SetNames({kName}, 0);
  for (int i = 0; i < 50; ++i) {
    int64_t now = t.NextDueNs();
    ASSERT_EQ(t.TakeDue(now, 1).size(), 1u);
    t.Apply(kName, Addrs({"10.0.0.1"}, 100), NoData(), now);
    EXPECT_LE(t.NextDueNs() - now, 100 * kS);
    EXPECT_GE(t.NextDueNs() - now, 90 * kS);
  }
}

TEST_F(NameTableTest, NxDomainKeepsTheLastAddresses) {
  Resolve(Addrs({"10.0.0.1"}));
  now_ += 60 * kS;
  EXPECT_FALSE(Resolve(Fail(Failure::kNxDomain), Fail(Failure::kNxDomain)));
  EXPECT_EQ(Status().addrs, Ips({"10.0.0.1"}));
  EXPECT_EQ(Status().stale_since_ns, now_);
  EXPECT_EQ(table_.stats().failures[size_t(Failure::kNxDomain)], 2u);
}

TEST_F(NameTableTest, StaleSinceTheFirstFailureUntilAnAnswer) {
  Resolve(Addrs({"10.0.0.1"}));
  int64_t first = now_ += 60 * kS;
  Resolve(Fail(Failure::kTimeout), Fail(Failure::kTimeout));
  now_ = table_.NextDueNs();
  Resolve(Fail(Failure::kServFail), Fail(Failure::kServFail));
  EXPECT_EQ(Status().stale_since_ns, first);
  EXPECT_EQ(Status().consecutive_failures, 2u);
  now_ = table_.NextDueNs();
  Resolve(Addrs({"10.0.0.1"}));
  EXPECT_EQ(Status().stale_since_ns, 0);
  EXPECT_EQ(Status().failures, 2u);
}

TEST_F(NameTableTest, FailuresRetryWithBackoffUpToTheMax) {
  std::vector<int64_t> waits;
  for (int i = 0; i < 5; ++i) {
    Resolve(Fail(Failure::kTimeout), Fail(Failure::kTimeout));
    waits.push_back((table_.NextDueNs() - now_) / kS);
    now_ = table_.NextDueNs();
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{5, 10, 20, 40, 40}));
}

TEST_F(NameTableTest, OneFamilyFailingKeepsThatFamilyOnly) {
  Resolve(Addrs({"10.0.0.1"}), Addrs({"fd00::1"}));
  now_ += 60 * kS;
  auto c = Resolve(Addrs({"10.0.0.2"}), Fail(Failure::kTimeout));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->removed, Ips({"10.0.0.1"}));
  EXPECT_EQ(Status().addrs, Ips({"10.0.0.2", "fd00::1"}));
  EXPECT_NE(Status().stale_since_ns, 0);
}

TEST_F(NameTableTest, NoDataEmptiesOnlyItsFamily) {
  Resolve(Addrs({"10.0.0.1"}), Addrs({"fd00::1"}));
  now_ += 60 * kS;
  auto c = Resolve(Addrs({"10.0.0.1"}), NoData());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->removed, Ips({"fd00::1"}));
}

TEST_F(NameTableTest, NoAddressAtAllKeepsTheLastAndIsAFailure) {
  Resolve(Addrs({"10.0.0.1"}));
  now_ += 60 * kS;
  EXPECT_FALSE(Resolve(NoData(), NoData()));
  EXPECT_EQ(Status().addrs, Ips({"10.0.0.1"}));
  EXPECT_EQ(Status().last_error, "no address");
  EXPECT_EQ(table_.stats().failures[size_t(Failure::kNoAddress)], 1u);
}

TEST_F(NameTableTest, NeverResolvedNameHasNothingAndIsStale) {
  EXPECT_FALSE(Resolve(Fail(Failure::kGarbage), Fail(Failure::kGarbage)));
  EXPECT_FALSE(Status().resolved);
  EXPECT_TRUE(Status().addrs.empty());
  EXPECT_NE(Status().stale_since_ns, 0);
}

TEST_F(NameTableTest, OverCapKeepsTheLowestAndCounts) {
  auto c = Resolve(Addrs({"10.0.0.9", "10.0.0.5", "10.0.0.1", "10.0.0.7", "10.0.0.3", "10.0.0.2"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->added, Ips({"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5"}));
  EXPECT_EQ(table_.stats().over_cap, 1u);
}

TEST_F(NameTableTest, DroppedNameRemovesEverythingOnce) {
  Resolve(Addrs({"10.0.0.1"}));
  auto changes = table_.SetNames({}, now_);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].unwatched);
  EXPECT_EQ(changes[0].removed, Ips({"10.0.0.1"}));
  EXPECT_FALSE(table_.Apply(kName, Addrs({"10.0.0.2"}), NoData(), now_));  // late answer: ignored
}

TEST_F(NameTableTest, InFlightNameIsNotTakenTwice) {
  EXPECT_EQ(table_.TakeDue(now_, 10).size(), 1u);
  EXPECT_TRUE(table_.TakeDue(now_ + 1000 * kS, 10).empty());
  EXPECT_EQ(table_.NextDueNs(), INT64_MAX);
}

TEST_F(NameTableTest, TakeDueBoundsTheConcurrency) {
  table_.SetNames({"a.test", "b.test", "c.test", kName}, now_);
  EXPECT_EQ(table_.TakeDue(now_, 3).size(), 3u);
  EXPECT_EQ(table_.TakeDue(now_, 3).size(), 1u);
}

TEST(DnsClassify, Verdicts) {
  auto ok = ParseResponse(ResponseBuilder("a.test", kTypeA).A("a.test", "10.0.0.1").Bytes(), "a.test", kTypeA);
  EXPECT_EQ(Classify(ok, false).outcome, Outcome::kAddresses);
  EXPECT_EQ(Classify(ok, true).failure, Failure::kNoAd);
  auto signed_ok = ParseResponse(ResponseBuilder("a.test", kTypeA).Ad().A("a.test", "10.0.0.1").Bytes(), "a.test", kTypeA);
  EXPECT_EQ(Classify(signed_ok, true).outcome, Outcome::kAddresses);
  auto nodata = ParseResponse(ResponseBuilder("a.test", kTypeA).Bytes(), "a.test", kTypeA);
  EXPECT_EQ(Classify(nodata, false).outcome, Outcome::kNoData);
  auto nx = ParseResponse(ResponseBuilder("a.test", kTypeA).Rcode(kRcodeNxDomain).Bytes(), "a.test", kTypeA);
  EXPECT_EQ(Classify(nx, false).failure, Failure::kNxDomain);
  auto sf = ParseResponse(ResponseBuilder("a.test", kTypeA).Rcode(kRcodeServFail).Bytes(), "a.test", kTypeA);
  EXPECT_EQ(Classify(sf, false).failure, Failure::kServFail);
  EXPECT_EQ(Classify(absl::InvalidArgumentError("garbage answer: x"), false).failure, Failure::kGarbage);
}

}  // namespace
}  // namespace taogate::dns
