// Token buckets driven by a hand-held clock: no sleeping, no timing.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "policy_testing.h"
#include "taogate/policies/rate_limiter.h"

namespace taogate::policies {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

class RateLimiterTest : public ::testing::Test {
 protected:
  RateLimiter::Clock clock() {
    return [this] { return now_; };
  }
  RateLimitConfig Config(double rate, uint32_t burst) {
    RateLimitConfig c;
    c.default_limit = RateLimit{rate, burst};
    return c;
  }
  TimePoint now_ = TimePoint(1000s);
};

TEST_F(RateLimiterTest, TripsAfterBurst) {
  RateLimiter l(Config(1, 3), clock());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.TryAcquire("a").ok()) << i;
  absl::Status s = l.TryAcquire("a");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(s.message()).find("next token in 1000 ms"), std::string::npos) << s;
}

TEST_F(RateLimiterTest, RefillsAtTheConfiguredRate) {
  RateLimiter l(Config(2, 2), clock());
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_FALSE(l.TryAcquire("a").ok());
  now_ += 499ms;
  EXPECT_FALSE(l.TryAcquire("a").ok());
  now_ += 1ms;  // 0.5 s at 2/s = one token
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_FALSE(l.TryAcquire("a").ok());
  now_ += 1h;  // never more than the burst
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_FALSE(l.TryAcquire("a").ok());
}

TEST_F(RateLimiterTest, ActorsHaveSeparateBuckets) {
  RateLimiter l(Config(1, 1), clock());
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_FALSE(l.TryAcquire("a").ok());
  EXPECT_TRUE(l.TryAcquire("b").ok());
}

TEST_F(RateLimiterTest, PerActorLimitOverridesDefault) {
  RateLimitConfig c = Config(1, 1);
  c.per_actor["vip"] = RateLimit{100, 5};
  RateLimiter l(c, clock());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.TryAcquire("vip").ok());
  EXPECT_FALSE(l.TryAcquire("vip").ok());
}

TEST_F(RateLimiterTest, NoLimitConfiguredMeansUnlimitedAndUntracked) {
  RateLimiter l(RateLimitConfig{}, clock());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(l.TryAcquire("a").ok());
  EXPECT_EQ(l.tracked(), 0u);
}

TEST_F(RateLimiterTest, ClockGoingBackwardsRefillsNothing) {
  RateLimiter l(Config(1, 1), clock());
  EXPECT_TRUE(l.TryAcquire("a").ok());
  now_ -= 10s;
  EXPECT_FALSE(l.TryAcquire("a").ok());
  now_ += 10s;  // back where we were: still nothing earned
  EXPECT_FALSE(l.TryAcquire("a").ok());
  now_ += 1s;
  EXPECT_TRUE(l.TryAcquire("a").ok());
}

TEST_F(RateLimiterTest, FullTableForgetsRefilledBucketsOnly) {
  RateLimiter l(Config(1, 1), clock(), /*max_tracked=*/2);
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_TRUE(l.TryAcquire("b").ok());
  // Both buckets are empty: a new actor must not push them out (that would
  // refill a and b for free), so it is refused.
  EXPECT_EQ(l.TryAcquire("c").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(l.TryAcquire("a").ok());
  now_ += 1s;  // a and b refilled: forgetting them is harmless
  EXPECT_TRUE(l.TryAcquire("c").ok());
  EXPECT_EQ(l.tracked(), 1u);
}

TEST_F(RateLimiterTest, ReconfigureKeepsLevelsCappedAtNewBurst) {
  RateLimiter l(Config(1, 5), clock());
  EXPECT_TRUE(l.TryAcquire("a").ok());  // a: 4 left
  l.Reconfigure(Config(1, 2));          // capped to 2
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_TRUE(l.TryAcquire("a").ok());
  EXPECT_FALSE(l.TryAcquire("a").ok());
  l.Reconfigure(Config(1, 10));  // reactivation does not refill
  EXPECT_FALSE(l.TryAcquire("a").ok());
}

TEST_F(RateLimiterTest, LimitsFromTheBundle) {
  auto p = testing::TestPolicy();  // writer: 60/m burst 1; default 2/s burst 3
  RateLimiter l(p->rate_limits(), clock());
  EXPECT_TRUE(l.TryAcquire(testing::kWriter).ok());
  EXPECT_FALSE(l.TryAcquire(testing::kWriter).ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.TryAcquire(testing::kReporter).ok());
  EXPECT_FALSE(l.TryAcquire(testing::kReporter).ok());
  now_ += 1s;
  EXPECT_TRUE(l.TryAcquire(testing::kWriter).ok());
  EXPECT_TRUE(l.TryAcquire(testing::kReporter).ok());
  EXPECT_TRUE(l.TryAcquire(testing::kReporter).ok());
  EXPECT_FALSE(l.TryAcquire(testing::kReporter).ok());
}

}  // namespace
}  // namespace taogate::policies

namespace taogate::policies {
namespace {

TEST(RateLimiterRaceTest, RacingRequestsNeverExceedTheBurst) {
  RateLimitConfig c;
  c.default_limit = RateLimit{1, 50};
  auto fixed = std::chrono::steady_clock::time_point(std::chrono::seconds(5));
  RateLimiter l(c, [fixed] { return fixed; });
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) granted += l.TryAcquire("racer").ok();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 50);
}

}  // namespace
}  // namespace taogate::policies
