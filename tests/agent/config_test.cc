// Agent configuration: YAML parsing, unknown keys refused, unsafe values refused.
#include "taogate/agent/config.h"

#include <gtest/gtest.h>

namespace taogate::agent {
namespace {

TEST(AgentConfigTest, ParsesKeys) {
  auto c = ParseConfig("node_id: n1\nprotected_targets: [\"tcp:10.0.0.5:5432\"]\nmetrics_port: 9999\n"
                       "operator_uids: [0, 1001]\nstrict_keys: false\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_id, "n1");
  EXPECT_EQ(c->protected_targets.size(), 1u);
  EXPECT_EQ(c->metrics_port, 9999);
  EXPECT_EQ(c->operator_uids.size(), 2u);
  EXPECT_FALSE(c->strict_keys);
}

TEST(AgentConfigTest, ReserveAndRefusalKeys) {
  auto c = ParseConfig("node_id: n1\nledger_reserve_bytes: 1048576\nledger_floor_bytes: 65536\n"
                       "refusal_flush_ms: 500\nrefusal_peer_records: 2\nrefusal_global_records: 16\n"
                       "refusal_rate_per_s: 10\nrefusal_burst: 20\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ledger_reserve_bytes, 1048576u);
  EXPECT_EQ(c->ledger_floor_bytes, 65536u);
  EXPECT_EQ(c->refusal_burst, 20u);
  c->cgroup2_mount = "/sys/fs/cgroup";
  EXPECT_TRUE(FinalizeConfig(*c).ok());
  c->ledger_floor_bytes = c->ledger_reserve_bytes + 1;  // the floor must lie below the reserve
  EXPECT_EQ(FinalizeConfig(*c).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgentConfigTest, DnsSectionParsedAndItsErrorsNamed) {
  auto c = ParseConfig("node_id: n1\ndns:\n  servers: [\"127.0.0.1:5353\", \"[fd00::53]\"]\n  ttl_floor_s: 2\n"
                       "  ttl_ceiling_s: 60\n  require_ad: true\n  enabled: true\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dns.servers.size(), 2u);
  EXPECT_EQ(c->dns.table.ttl_floor_s, 2u);
  EXPECT_EQ(c->dns.table.ttl_ceiling_s, 60u);
  EXPECT_TRUE(c->dns.require_ad);
  EXPECT_TRUE(c->dns_enabled);
  auto off = ParseConfig("node_id: n1\ndns: {enabled: false}\n");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->dns_enabled);

  auto unknown = ParseConfig("node_id: n1\ndns:\n  server: [1.1.1.1]\n");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("dns.server"), std::string::npos) << unknown.status();
  auto typed = ParseConfig("node_id: n1\ndns:\n  ttl_floor_s: soon\n");
  EXPECT_NE(typed.status().message().find("config key dns.ttl_floor_s"), std::string::npos) << typed.status();
  EXPECT_EQ(ParseConfig("node_id: n1\ndns: 5\n").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgentConfigTest, UnknownKeyRefused) {
  EXPECT_EQ(ParseConfig("node_id: n1\nstrict_kyes: false\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AgentConfigTest, NonLoopbackMetricsRefused) {
  AgentConfig c;
  c.node_id = "n1";
  c.cgroup2_mount = "/sys/fs/cgroup";
  c.metrics_address = "0.0.0.0";
  EXPECT_EQ(FinalizeConfig(c).code(), absl::StatusCode::kInvalidArgument);
  c.metrics_address = "127.0.0.1";
  EXPECT_TRUE(FinalizeConfig(c).ok());
}

// Prometheus scraping a pod: 0.0.0.0 only with the explicit opt-in.
TEST(AgentConfigTest, NonLoopbackMetricsWithTheOptIn) {
  auto c = ParseConfig("node_id: n1\nmetrics_address: 0.0.0.0\nmetrics_allow_remote: true\n");
  ASSERT_TRUE(c.ok()) << c.status();
  c->cgroup2_mount = "/sys/fs/cgroup";
  EXPECT_TRUE(FinalizeConfig(*c).ok());
  c->metrics_allow_remote = false;
  absl::Status st = FinalizeConfig(*c);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("metrics_allow_remote"), absl::string_view::npos) << st;
  c->metrics_address = "localhost";  // names are not addresses
  c->metrics_allow_remote = true;
  EXPECT_EQ(FinalizeConfig(*c).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgentConfigTest, BadTargetAndSameSocketsRefused) {
  AgentConfig c;
  c.node_id = "n1";
  c.cgroup2_mount = "/sys/fs/cgroup";
  c.protected_targets = {"tcp:not-an-ip:5432"};
  EXPECT_FALSE(FinalizeConfig(c).ok());
  c.protected_targets.clear();
  c.operator_socket = c.workload_socket;
  EXPECT_FALSE(FinalizeConfig(c).ok());
}

TEST(AgentConfigTest, MissingNodeIdRefused) {
  AgentConfig c;
  c.cgroup2_mount = "/sys/fs/cgroup";
  EXPECT_FALSE(FinalizeConfig(c).ok());
}

}  // namespace
}  // namespace taogate::agent
