// runtime::HttpEndpoint and the listen policy, in process on loopback.
#include "taogate/runtime/http_endpoint.h"

#include <gtest/gtest.h>

#include "taogate/common/strings.h"
#include "taogate/common/version.h"
#include "taogate/runtime/metrics_text.h"
#include "testing/http.h"
#include "testing/manual_clock.h"

namespace taogate::runtime {
namespace {

using ::taogate::testing::HttpGet;
using ::taogate::testing::UndocumentedSamples;

class HttpEndpointTest : public ::testing::Test {
 protected:
  void Start() {
    HttpEndpoint::Handlers h;
    h.metrics_text = [this] { return Counter("taogate_test_total", "A test counter.", count_); };
    h.healthy = [this]() -> absl::StatusOr<std::string> {
      if (!healthy_) return absl::UnavailableError("sick");
      return std::string("ok");
    };
    auto e = HttpEndpoint::Start({"127.0.0.1", 0}, "agent", std::move(h));
    ASSERT_TRUE(e.ok()) << e.status();
    endpoint_ = *std::move(e);
  }
  std::string Get(const std::string& path) { return HttpGet(endpoint_->port(), path); }

  uint64_t count_ = 7;
  bool healthy_ = true;
  std::unique_ptr<HttpEndpoint> endpoint_;
};

TEST_F(HttpEndpointTest, MetricsEndWithBuildInfo) {
  Start();
  std::string m = Get("/metrics");
  EXPECT_NE(m.find("taogate_test_total 7"), std::string::npos) << m;
  EXPECT_NE(m.find(StrCat("taogate_agent_build_info{version=\"", kProjectVersion, "\",commit=\"", kCommit, "\"} 1")),
            std::string::npos)
      << m;
  EXPECT_TRUE(UndocumentedSamples(m).empty()) << m;
}

TEST_F(HttpEndpointTest, HealthzIs200Or503WithTheReason) {
  Start();
  EXPECT_NE(Get("/healthz").find("200 OK"), std::string::npos);
  EXPECT_NE(Get("/metrics").find("taogate_agent_healthy 1\n"), std::string::npos);
  healthy_ = false;
  EXPECT_NE(Get("/metrics").find("taogate_agent_healthy 0\n"), std::string::npos);
  std::string h = Get("/healthz");
  EXPECT_NE(h.find("503"), std::string::npos) << h;
  EXPECT_NE(h.find("sick"), std::string::npos) << h;
}

TEST_F(HttpEndpointTest, RoutesMatchExactly) {
  Start();
  for (const char* path : {"/metrics/x", "/metricsx", "/healthz/", "/", "/other"})
    EXPECT_NE(Get(path).find("404"), std::string::npos) << path;
}

TEST_F(HttpEndpointTest, StopIsIdempotent) {
  Start();
  endpoint_->Stop();
  endpoint_->Stop();
  EXPECT_EQ(Get("/metrics"), "");
}

TEST(ListenTest, LoopbackAcceptedByDefault) {
  auto a = ParseListen("metrics_listen", "127.0.0.1:9464", false);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  auto v6 = ParseListen("metrics_listen", "[::1]:0", false);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(ListenSpelling(*v6), "[::1]:0");
}

TEST(ListenTest, RemoteNeedsTheOptIn) {
  auto a = ParseListen("metrics_listen", "0.0.0.0:9090", false);
  ASSERT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("metrics_allow_remote"), std::string::npos) << a.status();
  EXPECT_TRUE(ParseListen("metrics_listen", "0.0.0.0:9090", true).ok());
  EXPECT_TRUE(ParseListen("metrics_listen", "[::]:9090", true).ok());
  EXPECT_FALSE(CheckListenHost("metrics_address", "10.1.2.3", false).ok());
  EXPECT_TRUE(CheckListenHost("metrics_address", "10.1.2.3", true).ok());
}

TEST(ListenTest, MalformedRefused) {
  for (const char* bad : {"", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:70000",
                          "127.0.0.1:-1", "localhost:9464", "::1:9464", "[::1:9464"})
    EXPECT_EQ(ParseListen("metrics_listen", bad, true).status().code(), absl::StatusCode::kInvalidArgument) << bad;
}

TEST(ManualClockTest, MovesOnlyWhenTold) {
  taogate::testing::ManualClock c(1000);
  const Clock& clock = c;
  EXPECT_EQ(clock.WallMs(), 1000);
  const int64_t mono = clock.MonoNs();
  c.Advance(5);
  EXPECT_EQ(clock.WallMs(), 1005);
  EXPECT_EQ(clock.MonoNs(), mono + 5'000'000);
  c.SetWallMs(10);  // set back: monotonic time does not follow
  EXPECT_EQ(clock.WallMs(), 10);
  EXPECT_EQ(clock.MonoNs(), mono + 5'000'000);
}

TEST(RealClockTest, MonotonicNeverGoesBack) {
  const int64_t a = RealClock().MonoNs();
  EXPECT_GE(RealClock().MonoNs(), a);
  EXPECT_GT(RealClock().WallMs(), 1'600'000'000'000);
}

}  // namespace
}  // namespace taogate::runtime
