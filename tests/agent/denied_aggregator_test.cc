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

}  // namespace
}  // namespace taogate::agent
