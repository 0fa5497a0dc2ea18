// GovernorWatch without root and without a governor: kill-switch messages
// are applied through a fake NodeControl, targets go to a fake TargetSink
// (kernel_fakes.h). The watch's streams point at a closed loopback port, so
// they only retry in the background. The governor replays its history on
// every connect: replays must not repeat an action, and a release must never
// undo a kill switch this watch did not engage.
#include "taogate/agent/governor_watch.h"

#include <gtest/gtest.h>

#include <thread>

#include "kernel_fakes.h"
#include "taogate/agent/service.h"

namespace taogate::agent {
namespace {

class RecordingControl : public NodeControl {
 public:
  void FillStatus(v1::StatusResponse* out) override { out->set_policy_sha256("static-hash"); }
  void FillProbe(v1::ProbeResponse*) override {}
  absl::StatusOr<v1::KillSwitchResponse> KillSwitch(const v1::KillSwitchRequest& req, const PeerIdentity&) override {
    if (fail_) return absl::UnavailableError("gate");
    requests_.push_back(req);
    return v1::KillSwitchResponse{};
  }
  absl::StatusOr<v1::LedgerTailResponse> LedgerTail(uint32_t) override { return v1::LedgerTailResponse{}; }
  absl::StatusOr<v1::LedgerTailResponse> LedgerRead(uint64_t, uint32_t) override { return v1::LedgerTailResponse{}; }
  absl::StatusOr<v1::LedgerProofResponse> LedgerProof(uint64_t, uint64_t) override {
    return v1::LedgerProofResponse{};
  }
  std::vector<v1::KillSwitchRequest> requests_;
  bool fail_ = false;
};

v1::GovernorKillSwitchRequest Msg(bool engage, const std::string& workload, uint64_t seq, const std::string& node = "") {
  v1::GovernorKillSwitchRequest m;
  m.set_engage(engage);
  m.set_workload(workload);
  m.set_sequence(seq);
  m.set_node_id(node);
  m.set_reason("r");
  return m;
}

class GovernorWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GovernorWatchOptions o;
    o.address = "127.0.0.1:1";  // nothing listens: the streams only retry
    o.node_id = "n1";
    o.retry_initial_ms = 10'000;
    watch_ = GovernorWatch::Start(std::move(o), sink_, control_);
    // Both streams' first connection fails and is reported (last_error); the
    // next try is 10 s away, so the tests below own last_error from here.
    for (int i = 0; i < 1000 && watch_->state().reconnects < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  void TearDown() override { watch_->Stop(); }
  fakes::MemoryTargetSink sink_;
  RecordingControl control_;
  std::unique_ptr<GovernorWatch> watch_;
};

TEST_F(GovernorWatchTest, ReplayedEngageIsAppliedOnce) {
  watch_->OnKillSwitch(Msg(true, "w1", 1));
  watch_->OnKillSwitch(Msg(true, "w1", 1));
  ASSERT_EQ(control_.requests_.size(), 1u);
  EXPECT_EQ(control_.requests_[0].action(), v1::KILL_SWITCH_ENGAGE);
  EXPECT_EQ(control_.requests_[0].workload(), "w1");
  EXPECT_EQ(control_.requests_[0].reason(), "governor #1: r");
  EXPECT_EQ(watch_->state().killswitch_applied, 1u);
}

TEST_F(GovernorWatchTest, ReleaseOfWhatThisWatchDidNotEngageIsIgnored) {
  watch_->OnKillSwitch(Msg(false, "w2", 3));
  EXPECT_TRUE(control_.requests_.empty());
}

TEST_F(GovernorWatchTest, EngageThenReleaseReleasesTheSameScope) {
  watch_->OnKillSwitch(Msg(true, "", 4));
  watch_->OnKillSwitch(Msg(false, "", 5));
  ASSERT_EQ(control_.requests_.size(), 2u);
  EXPECT_TRUE(control_.requests_[0].all());
  EXPECT_EQ(control_.requests_[1].action(), v1::KILL_SWITCH_RELEASE);
  EXPECT_TRUE(control_.requests_[1].all());
}

TEST_F(GovernorWatchTest, MessageForAnotherNodeIsIgnored) {
  watch_->OnKillSwitch(Msg(true, "w1", 6, "n2"));
  EXPECT_TRUE(control_.requests_.empty());
}

TEST_F(GovernorWatchTest, FailedEngageIsRetriedOnTheNextMessage) {
  control_.fail_ = true;
  watch_->OnKillSwitch(Msg(true, "w1", 7));
  EXPECT_NE(watch_->state().last_error.find("#7"), std::string::npos);
  control_.fail_ = false;
  watch_->OnKillSwitch(Msg(true, "w1", 7));  // not remembered as engaged: applied now
  EXPECT_EQ(control_.requests_.size(), 1u);
}

TEST(GovernedNodeControlTest, StatusReportsTheGovernorsPolicyOnlyWhileASetIsApplied) {
  RecordingControl inner;
  fakes::MemoryTargetSink sink;
  GovernedNodeControl control(inner, sink);
  v1::StatusResponse s;
  control.FillStatus(&s);
  EXPECT_EQ(s.policy_sha256(), "");  // failing closed, nothing applied
  sink.state_.have_bundle = true;
  sink.state_.policy_sha256 = "abc";
  control.FillStatus(&s);
  EXPECT_EQ(s.policy_sha256(), "abc");
}

}  // namespace
}  // namespace taogate::agent
