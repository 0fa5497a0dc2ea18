// What an operator alerts on, from the real daemons (root: the agent's gate).
// The agent's /healthz names the broken part: its ledger's disk below the
// floor (a real tmpfs), then its gate detached; 503 naming the check, 200
// after repair. And every metric deploy/monitoring's rules and dashboard
// use is in the real agent's and governor's /metrics.
#include <sys/mount.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/agent_harness.h"
#include "governance/governor_testing.h"
#include "testing/http.h"

namespace taogate::agent::testing {
namespace {

using ::taogate::testing::BinPath;
using ::taogate::testing::HttpGet;
using ::taogate::testing::RunCommand;

class OpsKernelTest : public AgentTest {
 protected:
  void TearDown() override {
    if (agent_running()) StopAgent();
    if (mounted_) umount2(ledger_dir_.c_str(), MNT_DETACH);
    AgentTest::TearDown();
  }
  std::string Health() { return HttpGet(metrics_port_, "/healthz"); }
  bool mounted_ = false;
};

TEST_F(OpsKernelTest, HealthzFailsOnALedgerBelowTheFloorThenRecovers) {
  std::filesystem::create_directories(ledger_dir_);
  ASSERT_EQ(mount("tmpfs", ledger_dir_.c_str(), "tmpfs", 0, "size=32m"), 0) << strerror(errno);
  mounted_ = true;
  metrics_port_ = FreePort();
  StartAgent("ledger_reserve_bytes: 16777216\nledger_floor_bytes: 8388608\n");
  std::string h = Health();
  EXPECT_NE(h.find("200 OK"), std::string::npos) << h;
  EXPECT_NE(h.find("ledger: ok"), std::string::npos) << h;
  EXPECT_NE(h.find("gate: ok"), std::string::npos) << h;
  EXPECT_NE(h.find("governor: ok (none configured)"), std::string::npos) << h;
  const std::string filler = ledger_dir_ + "/filler";
  std::ofstream(filler) << std::string(26 << 20, 'x');  // < 8 MiB of 32 left
  h = Health();
  EXPECT_NE(h.find("503"), std::string::npos) << h;
  EXPECT_NE(h.find("\r\n\r\nledger: "), std::string::npos) << h;  // the failed check first
  EXPECT_NE(HttpGet(metrics_port_, "/metrics").find("taogate_agent_healthy 0\n"), std::string::npos);
  std::filesystem::remove(filler);
  EXPECT_NE(Health().find("200 OK"), std::string::npos) << Health();
}

TEST_F(OpsKernelTest, HealthzFailsWhenTheGateIsDetachedThenRecoversOnRestart) {
  metrics_port_ = FreePort();
  StartAgent();
  ASSERT_NE(Health().find("200 OK"), std::string::npos) << Health();
  auto d = RunCommand({BinPath("taogatectl"), "gate", "detach", "--pin-root", pin_root_});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  std::string h = Health();
  EXPECT_NE(h.find("503"), std::string::npos) << h;
  EXPECT_NE(h.find("gate: hook connect4 not attached"), std::string::npos) << h;
  StopAgent();
  StartAgent();  // re-attaches and pins
  EXPECT_NE(Health().find("200 OK"), std::string::npos) << Health();
}

// `agent status` exits 4 while a capability the config asks for is not
// enforcing: the gate detached under a running agent.
TEST_F(OpsKernelTest, StatusExitsFourWhenARequestedCapabilityIsNotEnforcing) {
  StartAgent();
  const std::string ctl = BinPath("taogatectl");
  auto ok = RunCommand({ctl, "agent", "status", "--socket", operator_sock_});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("\"requested\": true"), std::string::npos) << ok.out;
  auto probe = RunCommand({ctl, "probe", "--pin-root", pin_root_, "--socket", operator_sock_});
  EXPECT_EQ(probe.exit_code, 0) << probe.err << probe.out;
  EXPECT_NE(probe.out.find("[requested]"), std::string::npos) << probe.out;
  // A capability no config asked for, required by the caller: absent here
  // (no unix hooks are requested, so none is attached... or degraded).
  auto unix_req = RunCommand({ctl, "probe", "--pin-root", pin_root_, "--socket", operator_sock_, "--require",
                              "network-unix"});
  EXPECT_EQ(unix_req.exit_code, 4) << unix_req.err;
  EXPECT_NE(unix_req.err.find("capability network-unix requested but"), std::string::npos) << unix_req.err;

  ASSERT_EQ(RunCommand({ctl, "gate", "detach", "--pin-root", pin_root_}).exit_code, 0);
  auto bad = RunCommand({ctl, "probe", "--pin-root", pin_root_, "--socket", operator_sock_});
  EXPECT_EQ(bad.exit_code, 4) << bad.err;
  EXPECT_NE(bad.err.find("capability network-inet requested but absent"), std::string::npos) << bad.err;
  auto degraded_ok = RunCommand({ctl, "probe", "--pin-root", pin_root_, "--socket", operator_sock_,
                                 "--allow-degraded"});
  EXPECT_EQ(degraded_ok.exit_code, 4) << "absent is never allowed: " << degraded_ok.err;
}

TEST_F(OpsKernelTest, EveryMetricOfTheAlertsAndDashboardIsServed) {
  metrics_port_ = FreePort();
  StartAgent();
  governance::testing::GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  const std::string agent_m = dir_->path().string() + "/agent.metrics";
  const std::string gov_m = dir_->path().string() + "/governor.metrics";
  taogate::testing::WriteFile(agent_m, HttpGet(metrics_port_, "/metrics"));
  taogate::testing::WriteFile(gov_m, HttpGet(gov.MetricsPort(), "/metrics"));
  auto r = RunCommand({"/usr/bin/python3", std::string(TAOGATE_SOURCE_DIR) + "/tests/deploy/monitoring_test.py",
                       TAOGATE_SOURCE_DIR, agent_m, gov_m});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace taogate::agent::testing
