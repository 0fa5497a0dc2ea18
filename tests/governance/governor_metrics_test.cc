// The governor's /metrics and /healthz (runtime::HttpEndpoint): every family
// documented, build_info, exact routes, and metrics_allow_remote as the only
// way to listen beyond loopback. Real taogate-governor processes.
#include <gtest/gtest.h>

#include "governance/governor_testing.h"

namespace taogate::governance::testing {
namespace {

using ::taogate::testing::UndocumentedSamples;

TEST(GovernorMetricsTest, EveryFamilyHasHelpAndTypeAndBuildInfo) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  std::string m = HttpGet(gov.MetricsPort(), "/metrics");
  ASSERT_NE(m.find("200 OK"), std::string::npos) << gov.log();
  EXPECT_TRUE(UndocumentedSamples(m).empty()) << m;
  EXPECT_NE(m.find("taogate_governor_build_info{version=\""), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_governor_ledger_size "), std::string::npos) << m;
}

// What an operator alerts on: decisions by outcome, one labelled family.
TEST(GovernorMetricsTest, DecisionsTotalCountsEachOutcome) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  v1::Decision d;
  ASSERT_TRUE(gov.Authorize(kAgent, ReadRequest(), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  std::string m = HttpGet(gov.MetricsPort(), "/metrics");
  EXPECT_TRUE(UndocumentedSamples(m).empty()) << m;
  EXPECT_NE(m.find("taogate_governor_decisions_total{outcome=\"permit\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_governor_decisions_total{outcome=\"deny\"} 0\n"), std::string::npos) << m;
}

// Decision latency by outcome: one observation per answered request.
TEST(GovernorMetricsTest, DecisionLatencyHistogramCountsEachRequest) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  v1::Decision d;
  ASSERT_TRUE(gov.Authorize(kAgent, ReadRequest(), &d).ok());
  std::string m = HttpGet(gov.MetricsPort(), "/metrics");
  EXPECT_NE(m.find("# TYPE taogate_governor_decision_seconds histogram\n"), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_governor_decision_seconds_count{outcome=\"permit\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_governor_decision_seconds_bucket{outcome=\"permit\",le=\"10\"} 1\n"),
            std::string::npos) << m;
  EXPECT_NE(m.find("taogate_governor_decision_seconds_count{outcome=\"deny\"} 0\n"), std::string::npos) << m;
}

TEST(GovernorMetricsTest, RoutesMatchExactly) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  EXPECT_NE(HttpGet(gov.MetricsPort(), "/healthz").find("200 OK"), std::string::npos);
  EXPECT_NE(HttpGet(gov.MetricsPort(), "/metrics/extra").find("404"), std::string::npos);
  EXPECT_NE(HttpGet(gov.MetricsPort(), "/healthz/x").find("404"), std::string::npos);
}

TEST(GovernorMetricsTest, NonLoopbackListenRefusedWithoutOptIn) {
  GovernorProcess gov;
  EXPECT_FALSE(gov.Start({"--metrics-listen", "0.0.0.0:0"}));
  EXPECT_NE(gov.error().find("metrics_allow_remote"), std::string::npos) << gov.error();
}

TEST(GovernorMetricsTest, NonLoopbackListenWithOptIn) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start({"--metrics-listen", "0.0.0.0:0", "--metrics-allow-remote"})) << gov.error();
  EXPECT_NE(HttpGet(gov.MetricsPort(), "/healthz").find("200 OK"), std::string::npos);  // 0.0.0.0 has loopback too
}

}  // namespace
}  // namespace taogate::governance::testing
