// Kill switch, operator/workload separation, denial-flood bounding and the
// metrics endpoint against a real agent and the real kernel gate.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "testing/http.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

using ::taogate::testing::HttpGet;
using ::taogate::testing::UndocumentedSamples;

class KillSwitchKernelTest : public TwoWorkloadTest {
 protected:
  KillSwitchKernelTest() { start_agent_ = false; }
  absl::StatusOr<v1::KillSwitchResponse> Engage(const std::string& workload, bool all = false) {
    v1::KillSwitchRequest req;
    req.set_action(v1::KILL_SWITCH_ENGAGE);
    if (all) req.set_all(true);
    else req.set_workload(workload);
    req.set_reason("incident 42");
    return Operator()->KillSwitch(req);
  }
  absl::StatusOr<v1::KillSwitchResponse> Release(const std::string& workload) {
    v1::KillSwitchRequest req;
    req.set_action(v1::KILL_SWITCH_RELEASE);
    req.set_workload(workload);
    return Operator()->KillSwitch(req);
  }
  std::string OpenPort() const { return std::to_string(open_->port()); }
};

TEST_F(KillSwitchKernelTest, EngagedDeniesConnectsAndStopsEstablishedFlows) {
  StartAgent();
  // An established flow to an unprotected port, streaming from w1.
  std::thread stream([&] { RunIn("w1", {"stream", "127.0.0.1", OpenPort(), "3000"}); });
  for (int i = 0; i < 100 && open_->bytes() < 20; ++i) usleep(10'000);
  ASSERT_GE(open_->bytes(), 20u) << "stream never started";
  auto r = Engage("w1");
  ASSERT_TRUE(r.ok()) << r.status();
  usleep(200'000);
  uint64_t at_engage = open_->bytes();
  usleep(700'000);
  EXPECT_LE(open_->bytes(), at_engage + 1) << "egress of the established flow kept flowing";
  stream.join();
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT ERR EPERM"));
  // A genuine TAO does not get through a kill switch either. (The
  // quarantined workload cannot even reach the agent's socket: the unix
  // connect hook denies it, so its client times out.)
  auto red = RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Mint(w1_, protected_->port())),
                          "127.0.0.1", std::to_string(protected_->port())});
  EXPECT_TRUE(red.Has("REDEEM ERR")) << red.out;
  EXPECT_TRUE(red.Has("CONNECT ERR EPERM")) << red.out;
  // Other workloads are untouched.
  EXPECT_TRUE(RunIn("w2", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT OK"));
  auto ks = Find(RecordKind::kKillSwitch, "event", "engage");
  ASSERT_EQ(ks.size(), 1u);
  EXPECT_EQ(ks[0].Field("scope"), std::optional<std::string_view>("workload:/w1"));
  EXPECT_EQ(ks[0].Field("reason"), std::optional<std::string_view>("incident 42"));
}

TEST_F(KillSwitchKernelTest, SurvivesAgentRestartAndAgentAbsence) {
  StartAgent();
  ASSERT_TRUE(Engage("w1").ok());
  StopAgent();
  // No agent at all: the pinned quarantine still denies, and so does the
  // default deny of protected targets for everyone else (SIGTERM left the
  // gate enforcing).
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT ERR EPERM"));
  EXPECT_TRUE(RunIn("w2", {"connect", "127.0.0.1", std::to_string(protected_->port())}).Has("CONNECT ERR EPERM"));
  EXPECT_TRUE(RunIn("w2", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT OK"));
  StartAgent();
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT ERR EPERM"));
  auto st = Operator()->Status();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->quarantined_workloads(), 1u);
  ASSERT_TRUE(Release("w1").ok());
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT OK"));
  EXPECT_EQ(Find(RecordKind::kKillSwitch, "event", "release").size(), 1u);
}

TEST_F(KillSwitchKernelTest, AllScopeCoversEveryWorkload) {
  StartAgent();
  auto r = Engage("", true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->affected_cgroups(), 2u);
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT ERR EPERM"));
  EXPECT_TRUE(RunIn("w2", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT ERR EPERM"));
}

TEST_F(KillSwitchKernelTest, GovernedWorkloadCannotRelease) {
  StartAgent();
  ASSERT_TRUE(Engage("w1").ok());
  // Through the operator socket (the workload runs as root: the socket mode
  // alone would let it in; the agent refuses governed callers) ...
  auto r = RunIn("w2", {"op-release", operator_sock_, "w1"});
  EXPECT_TRUE(r.Has("OP ERR PERMISSION_DENIED")) << r.out;
  // ... and through the workload socket.
  r = RunIn("w2", {"op-release", workload_sock_, "w1"});
  EXPECT_TRUE(r.Has("OP ERR PERMISSION_DENIED")) << r.out;
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT ERR EPERM"));
  EXPECT_EQ(Refusals("OPERATOR_ONLY", 2), 2u);  // the first at once, the repeat in a summary
  EXPECT_TRUE(Find(RecordKind::kKillSwitch, "event", "release").empty());
}

TEST_F(KillSwitchKernelTest, DenialFloodWritesBoundedRecords) {
  StartAgent();
  auto r = RunIn("w1", {"connect-flood", "127.0.0.1", std::to_string(protected_->port()), "3000"});
  EXPECT_TRUE(r.Has("FLOOD OK=0 DENIED=3000")) << r.out;
  usleep(600'000);  // > one flush interval (200 ms in the test config)
  auto denied = Find(RecordKind::kDenied);
  ASSERT_FALSE(denied.empty());
  EXPECT_LE(denied.size(), 10u) << "a flood must be aggregated, not logged per event";
  uint64_t total = 0;
  for (const auto& d : denied) total += std::stoull(std::string(d.Field("count").value_or("0")));
  EXPECT_GT(total, 1000u);
  EXPECT_LE(total, 3000u);
}

TEST_F(KillSwitchKernelTest, MetricsAndHealthOnLoopback) {
  metrics_port_ = FreePort();
  StartAgent();
  EXPECT_TRUE(RunIn("w1", {"redeem", workload_sock_, WriteTao(Mint(w1_, protected_->port()))}).Has("REDEEM OK"));
  std::string health = HttpGet(metrics_port_, "/healthz");
  EXPECT_NE(health.find("200 OK"), std::string::npos) << health;
  std::string m = HttpGet(metrics_port_, "/metrics");
  EXPECT_NE(m.find("taogate_agent_redeems_total 1"), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_agent_redeem_seconds_count 1"), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_kernel_decisions_total{kind=\"allow_grant\"}"), std::string::npos) << m;
  EXPECT_TRUE(UndocumentedSamples(m).empty()) << m;
  EXPECT_NE(m.find("taogate_agent_build_info{version=\""), std::string::npos) << m;
  // The routes match exactly (the governor's and the agent's are one endpoint).
  EXPECT_NE(HttpGet(metrics_port_, "/metrics/x").find("404"), std::string::npos);
  EXPECT_NE(HttpGet(metrics_port_, "/healthzz").find("404"), std::string::npos);
}

TEST_F(KillSwitchKernelTest, StrictModeRefusesSoftwareRoots) {
  strict_keys_ = true;
  StartAgent();
  auto r = RunIn("w1", {"redeem", workload_sock_, WriteTao(Mint(w1_, protected_->port()))});
  EXPECT_TRUE(r.Has("REDEEM ERR BAD_SIGNATURE")) << r.out;
  auto st = Operator()->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->strict_keys());
}

TEST_F(KillSwitchKernelTest, TaogatectlOperatesTheAgent) {
  StartAgent();
  std::string ctl = taogate::testing::BinPath("taogatectl");
  auto engage = taogate::testing::RunCommand(
      {ctl, "agent", "--socket", operator_sock_, "killswitch", "engage", "--workload", "w1", "--reason", "cli drill"});
  EXPECT_EQ(engage.exit_code, 0) << engage.err;
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT ERR EPERM"));
  auto status = taogate::testing::RunCommand({ctl, "agent", "--socket", operator_sock_, "status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("\"quarantined_workloads\": \"1\""), std::string::npos) << status.out;
  auto tail = taogate::testing::RunCommand({ctl, "agent", "--socket", operator_sock_, "ledger-tail", "-n", "5"});
  EXPECT_EQ(tail.exit_code, 0) << tail.err;
  EXPECT_NE(tail.out.find("KILLSWITCH"), std::string::npos) << tail.out;
  auto proof = taogate::testing::RunCommand({ctl, "agent", "--socket", operator_sock_, "ledger-proof", "0"});
  EXPECT_EQ(proof.exit_code, 0) << proof.err;
  EXPECT_NE(proof.out.find("root_hex"), std::string::npos) << proof.out;
  auto release = taogate::testing::RunCommand(
      {ctl, "agent", "--socket", operator_sock_, "killswitch", "release", "--workload", "w1"});
  EXPECT_EQ(release.exit_code, 0) << release.err;
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", OpenPort()}).Has("CONNECT OK"));
  // A workload redeems with `taogatectl redeem`; operator commands from the
  // workload socket are refused.
  auto refused = taogate::testing::RunCommand({ctl, "agent", "--socket", workload_sock_, "status"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("OPERATOR_ONLY"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace taogate::agent::testing
