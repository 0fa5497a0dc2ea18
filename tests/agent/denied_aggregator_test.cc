// DeniedAggregator bounds ledger growth under a denial flood.
#include "taogate/agent/denied_aggregator.h"

#include <gtest/gtest.h>

namespace taogate::agent {
namespace {

TEST(DeniedAggregatorTest, SameKeyIsOneRecord) {
  DeniedAggregator a(8);
  for (int i = 0; i < 100'000; ++i) a.Add({7, "deny", "tcp:10.0.0.1:5432"});
  auto out = a.Flush();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].count, 100'000u);
  EXPECT_TRUE(a.Flush().empty());
}

TEST(DeniedAggregatorTest, ManyKeysCappedWithOneOverflowRecord) {
  DeniedAggregator a(4, 100);
  for (int port = 1; port <= 1000; ++port) a.Add({7, "deny", "tcp:10.0.0.1:" + std::to_string(port)}, 2);
  auto out = a.Flush();
  ASSERT_EQ(out.size(), 5u);
  EXPECT_TRUE(out.back().overflow);
  uint64_t total = 0;
  for (auto& s : out) total += s.count;
  EXPECT_EQ(total, 2000u) << "no event may be lost from the counts";
}

TEST(DeniedAggregatorTest, LargestCountsKept) {
  DeniedAggregator a(1);
  a.Add({1, "deny", "a"}, 1);
  a.Add({2, "deny", "b"}, 50);
  auto out = a.Flush();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key.cgroup_id, 2u);
  EXPECT_EQ(out[1].count, 1u);
}

// A summary says when its events happened: records are written a flush
// interval later, so ledger order alone would misplace them.
TEST(DeniedAggregatorTest, SummariesCarryFirstAndLastEventTime) {
  DeniedAggregator a(1, 2);
  a.Add({7, "deny", "a"}, 1, 5'000);
  a.Add({7, "deny", "a"}, 1, 3'000);
  a.Add({7, "deny", "a"}, 1, 9'000);
  a.Add({8, "deny", "b"}, 1, 4'000);   // over max_records: into the overflow
  a.Add({9, "deny", "c"}, 1, 12'000);  // over max_keys: into the overflow
  a.Add({7, "deny", "a"}, 1, 0);       // unknown time: counted, times unchanged
  auto out = a.Flush();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].count, 4u);
  EXPECT_EQ(out[0].first_ms, 3'000);
  EXPECT_EQ(out[0].last_ms, 9'000);
  ASSERT_TRUE(out[1].overflow);
  EXPECT_EQ(out[1].count, 2u);
  EXPECT_EQ(out[1].first_ms, 4'000);
  EXPECT_EQ(out[1].last_ms, 12'000);
}

}  // namespace
}  // namespace taogate::agent
