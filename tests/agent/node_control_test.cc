// GateNodeControl without root: the kernel gate and the enforcement table
// are fakes (kernel_fakes.h) that log into one ordered call log together
// with the evidence, so the kill switch's ordering promise is checked
// directly: engage writes the gate before the ledger, release writes the
// ledger before the gate, and a release whose record fails leaves the gate
// engaged.
#include "taogate/agent/node_control.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "kernel_fakes.h"
#include "redeem_fakes.h"
#include "testing/manual_clock.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

// MemoryEvidence that also logs into the shared call log.
class LoggedEvidence : public fakes::MemoryEvidence {
 public:
  explicit LoggedEvidence(fakes::CallLog& log) : log_(log) {}
  absl::StatusOr<uint64_t> Append(Kind kind, Fields fields) override {
    auto seq = MemoryEvidence::Append(kind, std::move(fields));
    if (seq.ok()) log_.Add("ledger: " + LastField("event"));
    return seq;
  }

 private:
  fakes::CallLog& log_;
};

class NodeControlTest : public ::testing::Test {
 protected:
  NodeControlTest() : gate_(log_), evidence_(log_) {
    config_.node_id = "n1";
    config_.cgroup2_mount = dir_.path().string();
    config_.governed_cgroup = "/gov";
    std::filesystem::create_directories(dir_.path() / "gov/w1");
    std::filesystem::create_directories(dir_.path() / "gov/w2");
    std::filesystem::create_directories(dir_.path() / "gov/w3");
    ledger::LedgerOptions lo;
    lo.dir = (dir_.path() / "ledger").string();
    lo.fsync = false;
    ledger_ = std::move(*ledger::Ledger::Open(lo));
    redeemer_ = std::make_unique<Redeemer>(RedeemConfig{}, verifier_, evidence_, grants_, clock_);
    control_ = std::make_unique<GateNodeControl>(config_, gate_, *ledger_, evidence_, metrics_, *redeemer_);
    control_->set_enforcer(&enforcement_);
  }
  absl::StatusOr<v1::KillSwitchResponse> Switch(v1::KillSwitchAction action, uint64_t cgroup_id,
                                               v1::KillSwitchMode mode = v1::KILL_SWITCH_MODE_DENY) {
    v1::KillSwitchRequest req;
    req.set_action(action);
    if (cgroup_id == 0) req.set_all(true);
    else req.set_cgroup_id(cgroup_id);
    req.set_mode(mode);
    req.set_reason("incident\n42");
    return control_->KillSwitch(req, PeerIdentity{});
  }

  taogate::testing::TempDir dir_;
  fakes::CallLog log_;
  fakes::LoggingKillSwitchGate gate_;
  LoggedEvidence evidence_;
  fakes::FixedEnforcement enforcement_;
  fakes::FunctionVerifier verifier_{[](const v1::Tao&, int64_t) { return absl::OkStatus(); }};
  fakes::MemoryGrants grants_;
  testing::ManualClock clock_{0};
  Metrics metrics_;
  AgentConfig config_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<Redeemer> redeemer_;
  std::unique_ptr<GateNodeControl> control_;
};

using Calls = std::vector<std::string>;

TEST_F(NodeControlTest, EngageWritesTheGateBeforeTheLedger) {
  ASSERT_TRUE(Switch(v1::KILL_SWITCH_ENGAGE, 77).ok());
  EXPECT_EQ(log_.Get(), (Calls{"gate: quarantine 77 1", "ledger: engage"}));
  EXPECT_EQ(evidence_.LastField("scope"), "cgroup:77");
  EXPECT_EQ(evidence_.LastField("reason"), "incident 42");  // control characters never reach the ledger
}

TEST_F(NodeControlTest, EngageWhoseRecordFailsStaysEngagedAndSaysSo) {
  evidence_.fail_ = true;
  auto r = Switch(v1::KILL_SWITCH_ENGAGE, 77);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("ENGAGED"), std::string_view::npos);
  EXPECT_EQ(log_.Get(), (Calls{"gate: quarantine 77 1"}));
}

TEST_F(NodeControlTest, ReleaseIsRecordedBeforeTheGateClears) {
  ASSERT_TRUE(Switch(v1::KILL_SWITCH_RELEASE, 77).ok());
  EXPECT_EQ(log_.Get(), (Calls{"ledger: release", "gate: release 77"}));
}

TEST_F(NodeControlTest, ReleaseWhoseRecordFailsLeavesTheGateEngaged) {
  evidence_.fail_ = true;
  EXPECT_FALSE(Switch(v1::KILL_SWITCH_RELEASE, 77).ok());
  EXPECT_TRUE(log_.Get().empty());
}

TEST_F(NodeControlTest, KillModeForAllQuarantinesEveryWorkloadWithKill) {
  auto r = Switch(v1::KILL_SWITCH_ENGAGE, 0, v1::KILL_SWITCH_MODE_KILL);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->affected_cgroups(), 3u);
  EXPECT_EQ(log_.Get().front(), "gate: quarantine_all 3");
}

TEST_F(NodeControlTest, GateFailureOnEngageWritesNoRecord) {
  gate_.fail_ = true;
  EXPECT_EQ(Switch(v1::KILL_SWITCH_ENGAGE, 77).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(evidence_.size(), 0u);
}

TEST_F(NodeControlTest, AmbiguousOrImpossibleScopesTouchNothing) {
  v1::KillSwitchRequest two;
  two.set_action(v1::KILL_SWITCH_ENGAGE);
  two.set_all(true);
  two.set_cgroup_id(5);
  EXPECT_EQ(control_->KillSwitch(two, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Switch(v1::KILL_SWITCH_ENGAGE, 5, v1::KILL_SWITCH_MODE_FREEZE).status().code(),
            absl::StatusCode::kInvalidArgument);  // freeze needs a cgroup path
  EXPECT_EQ(Switch(v1::KILL_SWITCH_ACTION_UNSPECIFIED, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(log_.Get().empty());
}

TEST_F(NodeControlTest, StatusReportsHooksCapabilitiesAndQuarantine) {
  gate_.probe_.hooks.push_back({"connect4", bpf::HookState::kEnforcing, ""});
  gate_.quarantined_ = 1;
  gate_.all_engaged_ = true;
  enforcement_.caps_.push_back({"files", enforce::Mechanism::kKillOnSyscall, bpf::HookState::kDegraded, "tp", "d"});
  v1::StatusResponse s;
  control_->FillStatus(&s);
  ASSERT_EQ(s.hooks_size(), 1);
  EXPECT_EQ(s.hooks(0).hook(), "connect4");
  ASSERT_EQ(s.capabilities_size(), 1);
  EXPECT_EQ(s.capabilities(0).mechanism(), "kill-on-syscall");
  EXPECT_EQ(s.quarantined_workloads(), 3u);  // "all" counts every workload cgroup
  EXPECT_EQ(s.node_id(), "n1");
}

}  // namespace
}  // namespace taogate::agent
