// DenialLog: why a connect was refused, kept per workload and per process,
// bounded under a flood.
#include "taogate/agent/denial_log.h"

#include <gtest/gtest.h>

namespace taogate::agent {
namespace {

constexpr char kDb[] = "tcp:10.0.0.5:5432";

Denial Deny(uint64_t cgroup, uint32_t pid, const std::string& target = kDb, const char* reason = denial::kNoGrant,
            int64_t time_ms = 1'000) {
  return {.time_ms = time_ms, .cgroup_id = cgroup, .pid = pid, .reason = reason, .hook = "connect4",
          .target = target};
}

TaoId Id(uint8_t b) {
  TaoId id{};
  id.fill(b);
  return id;
}

TEST(DenialLogTest, NoGrantThenNewestFirst) {
  DenialLog log;
  log.Record(Deny(7, 100, "tcp:10.0.0.5:1"));
  log.Record(Deny(7, 100, "tcp:10.0.0.5:2"));
  auto out = log.Query(100, 0, 10);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].target, "tcp:10.0.0.5:2");
  EXPECT_EQ(out[0].reason, "no_grant");
  EXPECT_EQ(log.Query(0, 7, 10)[1].target, "tcp:10.0.0.5:1");
}

TEST(DenialLogTest, DenyAfterExercisedGrantIsConsumedWithTheTao) {
  DenialLog log;
  log.Exercised(7, kDb, Id(0xab), 5'000);
  log.Record(Deny(7, 100, kDb, denial::kNoGrant, 6'000));
  auto out = log.Query(0, 7, 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "consumed");
  EXPECT_TRUE(out[0].has_tao);
  EXPECT_EQ(out[0].tao_id, Id(0xab));
  EXPECT_EQ(out[0].consumed_at_ms, 5'000);
}

TEST(DenialLogTest, ConsumedOnlyForThatWorkloadAndTarget) {
  DenialLog log;
  log.Exercised(7, kDb, Id(1), 5'000);
  log.Record(Deny(8, 200, kDb, denial::kNoGrant, 6'000));             // another workload
  log.Record(Deny(7, 100, "tcp:10.0.0.6:5432", denial::kNoGrant, 6'000));  // another target
  EXPECT_EQ(log.Query(200, 0, 1)[0].reason, "no_grant");
  EXPECT_EQ(log.Query(100, 0, 1)[0].reason, "no_grant");
}

TEST(DenialLogTest, ConsumedLongAgoIsNoGrant) {
  DenialLog log({.consumed_window_ms = 60'000});
  log.Exercised(7, kDb, Id(1), 5'000);
  log.Record(Deny(7, 100, kDb, denial::kNoGrant, 5'000 + 60'001));
  EXPECT_EQ(log.Query(0, 7, 1)[0].reason, "no_grant");
}

TEST(DenialLogTest, ExpiredStaysExpired) {
  DenialLog log;
  log.Exercised(7, kDb, Id(1), 5'000);
  log.Record(Deny(7, 100, kDb, denial::kExpired, 6'000));
  auto out = log.Query(0, 7, 1);
  EXPECT_EQ(out[0].reason, "expired");
  EXPECT_FALSE(out[0].has_tao);
}

TEST(DenialLogTest, RepeatsFoldIntoOneEntry) {
  DenialLog log;
  for (int i = 0; i < 1000; ++i) log.Record(Deny(7, 100, kDb, denial::kNoGrant, i));
  auto out = log.Query(100, 0, 10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].count, 1000u);
  EXPECT_EQ(out[0].time_ms, 999);
}

TEST(DenialLogTest, FloodKeepsOnlyTheLastPerKey) {
  DenialLog log({.per_key = 4});
  for (int port = 1; port <= 100'000; ++port) log.Record(Deny(7, 100, "tcp:10.0.0.5:" + std::to_string(port)));
  auto out = log.Query(0, 7, 100);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].target, "tcp:10.0.0.5:100000");
  EXPECT_EQ(out[3].target, "tcp:10.0.0.5:99997");
  EXPECT_EQ(log.Query(100, 0, 100).size(), 4u);
}

TEST(DenialLogTest, FloodOfWorkloadsEvictsTheLeastRecent) {
  DenialLog log({.per_key = 2, .max_cgroups = 8, .max_pids = 8});
  log.Record(Deny(1, 1));
  for (uint32_t i = 2; i <= 100'000; ++i) log.Record(Deny(i, i));
  EXPECT_TRUE(log.Query(0, 1, 10).empty());
  EXPECT_TRUE(log.Query(1, 0, 10).empty());
  EXPECT_EQ(log.Query(0, 0, 100).size(), 8u) << "at most max_cgroups rings kept";
  EXPECT_EQ(log.Query(0, 100'000, 10).size(), 1u);
}

TEST(DenialLogTest, FloodFromOneWorkloadDoesNotEraseAnother) {
  DenialLog log({.per_key = 4});
  log.Record(Deny(1, 1, kDb));
  for (int i = 0; i < 100'000; ++i) log.Record(Deny(2, 2, "tcp:10.0.0.9:" + std::to_string(i % 50'000)));
  ASSERT_EQ(log.Query(0, 1, 10).size(), 1u);
  EXPECT_EQ(log.Query(1, 0, 10)[0].target, kDb);
}

TEST(DenialLogTest, ExercisedGrantsBounded) {
  DenialLog log({.max_exercised = 4});
  log.Exercised(7, kDb, Id(1), 1'000);
  for (int i = 0; i < 10'000; ++i) log.Exercised(7, "tcp:10.0.0.9:" + std::to_string(i), Id(2), 1'000);
  log.Record(Deny(7, 100, kDb, denial::kNoGrant, 2'000));
  EXPECT_EQ(log.Query(0, 7, 1)[0].reason, "no_grant") << "the oldest remembered grant was evicted";
}

TEST(DenialLogTest, PidFilteredByWorkload) {
  DenialLog log;
  log.Record(Deny(7, 100, "tcp:10.0.0.5:1"));
  log.Record(Deny(8, 100, "tcp:10.0.0.5:2"));  // pid reused in another workload
  auto out = log.Query(100, 7, 10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].cgroup_id, 7u);
  EXPECT_TRUE(log.PidDeniedElsewhere(100, 7));
  EXPECT_FALSE(log.PidDeniedElsewhere(101, 7));
}

TEST(DenialLogTest, GlobalQueryMergesWorkloadsNewestFirst) {
  DenialLog log;
  log.Record(Deny(1, 1, "a"));
  log.Record(Deny(2, 2, "b"));
  log.Record(Deny(1, 1, "c"));
  auto out = log.Query(0, 0, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].target, "c");
  EXPECT_EQ(out[1].target, "b");
}

}  // namespace
}  // namespace taogate::agent
