// runtime::Histogram and BuildInfo: the exposition text Prometheus parses;
// HealthReport and CheckDirAppendable: the /healthz checks.
#include "taogate/runtime/metrics_text.h"

#include <gtest/gtest.h>

#include "taogate/runtime/health.h"

#include "taogate/common/strings.h"
#include "taogate/common/version.h"
#include "testing/http.h"

namespace taogate::runtime {
namespace {

using ::taogate::testing::UndocumentedSamples;

TEST(HistogramTest, BucketsAreCumulativeAndEndWithInf) {
  Histogram h;
  h.Observe(400'000);         // 0.4 ms: first bucket
  h.Observe(500'000);         // 0.5 ms: le is inclusive
  h.Observe(3'000'000);       // 3 ms
  h.Observe(60'000'000'000);  // 60 s: only +Inf
  const std::string s = h.Samples("t_seconds", "outcome=\"permit\"");
  EXPECT_NE(s.find("t_seconds_bucket{outcome=\"permit\",le=\"0.0005\"} 2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_bucket{outcome=\"permit\",le=\"0.0025\"} 2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_bucket{outcome=\"permit\",le=\"0.005\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_bucket{outcome=\"permit\",le=\"10\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_bucket{outcome=\"permit\",le=\"+Inf\"} 4\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_count{outcome=\"permit\"} 4\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_sum{outcome=\"permit\"} 60.0039\n"), std::string::npos) << s;
  EXPECT_EQ(h.count(), 4u);
}

TEST(HistogramTest, UnlabelledAndDocumented) {
  Histogram h;
  const std::string s = StrCat(Family("t_seconds", "histogram", "A test."), h.Samples("t_seconds"));
  EXPECT_NE(s.find("t_seconds_bucket{le=\"0.001\"} 0\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_sum 0\n"), std::string::npos) << s;
  EXPECT_NE(s.find("t_seconds_count 0\n"), std::string::npos) << s;
  EXPECT_TRUE(UndocumentedSamples(s).empty()) << s;
}

TEST(BuildInfoTest, NamesTheDaemonVersionAndCommit) {
  const std::string s = BuildInfo("governor");
  EXPECT_NE(s.find(StrCat("taogate_governor_build_info{version=\"", kProjectVersion, "\",commit=\"", kCommit,
                          "\"} 1\n")),
            std::string::npos)
      << s;
  EXPECT_TRUE(UndocumentedSamples(s).empty()) << s;
}

TEST(HealthReportTest, NamesTheFailedCheckFirstAndListsEveryCheck) {
  auto r = HealthReport({{"tpm", absl::OkStatus(), "root: tpm"},
                         {"ledger", absl::ResourceExhaustedError("disk full"), "12 records"},
                         {"governor", absl::UnavailableError("down"), "", false}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "ledger: disk full\ntpm: ok (root: tpm)\nledger: FAILED: disk full (12 records)\n"
            "governor: degraded: down\n");
}

TEST(HealthReportTest, ANonRequiredFailureIsReportedNot503) {
  auto r = HealthReport({{"ledger", absl::OkStatus(), ""}, {"governor", absl::UnavailableError("down"), "", false}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "ok\nledger: ok\ngovernor: degraded: down\n");
}

TEST(CheckDirAppendableTest, MissingDirAndTooLittleSpaceAreRefused) {
  EXPECT_EQ(CheckDirAppendable("/no/such/dir", 0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckDirAppendable("/tmp", 0).ok());
  const absl::Status full = CheckDirAppendable("/tmp", UINT64_MAX);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("disk full"), absl::string_view::npos) << full;
}

}  // namespace
}  // namespace taogate::runtime
