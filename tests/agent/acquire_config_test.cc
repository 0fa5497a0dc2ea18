// The agent's Acquire keys (config.h): parsed, defaulted, out-of-range refused.
#include <gtest/gtest.h>

#include "taogate/agent/config.h"

namespace taogate::agent {
namespace {

absl::Status Finalized(const std::string& yaml) {
  auto c = ParseConfig("node_id: n1\ncgroup2_mount: /sys/fs/cgroup\n" + yaml);
  if (!c.ok()) return c.status();
  return FinalizeConfig(*c);
}

TEST(AcquireConfigTest, KeysParsedWithDefaults) {
  auto c = ParseConfig("node_id: n1\nacquire_max_wait_ms: 60000\nacquire_rate_per_s: 5\n"
                       "acquire_burst: 7\nacquire_max_in_flight: 2\nacquire_exe_max_bytes: 1048576\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->acquire_max_wait_ms, 60'000);
  EXPECT_EQ(c->acquire_rate_per_s, 5u);
  EXPECT_EQ(c->acquire_burst, 7u);
  EXPECT_EQ(c->acquire_max_in_flight, 2u);
  EXPECT_EQ(c->acquire_exe_max_bytes, 1048576u);
  EXPECT_EQ(AgentConfig().acquire_max_wait_ms, 300'000);
}

TEST(AcquireConfigTest, OutOfRangeRefusedNamingTheKey) {
  EXPECT_TRUE(Finalized("").ok());
  for (std::string bad : {"acquire_max_wait_ms: 0", "acquire_max_wait_ms: 4000000", "acquire_rate_per_s: 0",
                          "acquire_burst: 0", "acquire_max_in_flight: 0", "acquire_exe_max_bytes: 0"}) {
    absl::Status st = Finalized(bad + "\n");
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find(bad.substr(0, bad.find(':'))), std::string::npos) << st;
  }
}

}  // namespace
}  // namespace taogate::agent
