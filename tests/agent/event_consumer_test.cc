// EventConsumer without root: decision events and LSM denials come from
// fakes (kernel_fakes.h), evidence is in memory. What the kernel delivers
// must become exactly the evidence the design promises: one EXERCISED per
// grant, never two, and denials folded into bounded DENIED summaries.
#include "taogate/agent/event_consumer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "kernel_fakes.h"
#include "redeem_fakes.h"

namespace taogate::agent {
namespace {

using Kind = Evidence::Kind;

bpf::DecisionEvent Grant(uint8_t id_byte) {
  bpf::DecisionEvent e;
  e.verdict = bpf::Verdict::kAllowGrant;
  e.tao_id.fill(id_byte);
  e.cgroup_id = 7;
  e.hook = "connect4";
  e.family = AF_INET;
  e.proto = 6;
  e.port = 5432;
  e.address = "127.0.0.1";
  return e;
}

bpf::DecisionEvent Deny() {
  bpf::DecisionEvent e = Grant(0);
  e.verdict = bpf::Verdict::kDeny;
  return e;
}

class EventConsumerTest : public ::testing::Test {
 protected:
  // Starts the consumer, lets it drain what is queued, stops it (final flush).
  void RunOnce() {
    EventConsumer c(source_, evidence_, metrics_, options_);
    c.set_enforcer(&enforcement_);
    for (const auto& id : restored_) c.RestoreExercised(id);
    c.Start();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    c.Stop();
  }
  fakes::QueueDecisionSource source_;
  fakes::FixedEnforcement enforcement_;
  fakes::MemoryEvidence evidence_;
  Metrics metrics_;
  EventConsumerOptions options_;
  std::vector<TaoId> restored_;
};

TEST_F(EventConsumerTest, GrantEventBecomesOneExercisedRecord) {
  source_.Push(Grant(0xab));
  RunOnce();
  ASSERT_EQ(evidence_.Count(Kind::kExercised), 1u);
  EXPECT_EQ(evidence_.Find(Kind::kExercised, "target", "tcp:127.0.0.1:5432").size(), 1u);
  std::string hex;
  for (int i = 0; i < 16; ++i) hex += "ab";
  EXPECT_EQ(evidence_.Find(Kind::kExercised, "tao_id", hex).size(), 1u);
}

TEST_F(EventConsumerTest, SecondEventForOneGrantIsNotASecondExercise) {
  source_.Push(Grant(1));
  source_.Push(Grant(1));
  RunOnce();
  EXPECT_EQ(evidence_.Count(Kind::kExercised), 1u);
}

TEST_F(EventConsumerTest, GrantAlreadyInTheLedgerIsNotRecordedAgainAfterRestart) {
  TaoId id;
  id.fill(2);
  restored_.push_back(id);
  source_.Push(Grant(2));
  RunOnce();
  EXPECT_EQ(evidence_.Count(Kind::kExercised), 0u);
}

TEST_F(EventConsumerTest, DenialFloodBecomesOneSummaryWithTheCount) {
  for (int i = 0; i < 50; ++i) source_.Push(Deny());
  RunOnce();
  auto denied = evidence_.Find(Kind::kDenied, "target", "tcp:127.0.0.1:5432");
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(fakes::MemoryEvidence::FieldOf(denied[0], "count"), "50");
  EXPECT_EQ(fakes::MemoryEvidence::FieldOf(denied[0], "verdict"), "deny");
}

TEST_F(EventConsumerTest, LsmDenialsAreSummarisedWithTheHookAndInode) {
  enforcement_.Push(enforce::LsmDenial{9, 100, "file_open", 42, 0, 0});
  enforcement_.Push(enforce::LsmDenial{9, 100, "task_kill", 0, 4242, 0});
  RunOnce();
  EXPECT_EQ(evidence_.Find(Kind::kDenied, "verdict", "lsm/file_open").size(), 1u);
  EXPECT_EQ(evidence_.Find(Kind::kDenied, "target", "ino:42").size(), 1u);
  EXPECT_EQ(evidence_.Find(Kind::kDenied, "target", "pid:4242").size(), 1u);
}

TEST_F(EventConsumerTest, DistinctDenialsBeyondTheBoundBecomeOneOverflowRecord) {
  options_.denied_max_records = 2;
  for (int port = 1; port <= 5; ++port) {
    auto e = Deny();
    e.port = static_cast<uint16_t>(port);
    source_.Push(e);
  }
  RunOnce();
  EXPECT_EQ(evidence_.Find(Kind::kDenied, "event", "kernel_deny").size(), 2u);
  EXPECT_EQ(evidence_.Find(Kind::kDenied, "event", "denied_overflow").size(), 1u);
}

TEST_F(EventConsumerTest, ExpiredGrantsAreSweptPeriodically) {
  options_.sweep_every_ms = 0;
  RunOnce();
  EXPECT_GE(source_.sweeps(), 1);
}

TEST_F(EventConsumerTest, LedgerFailureIsCountedNotFatal) {
  evidence_.fail_ = true;
  source_.Push(Grant(3));
  RunOnce();
  EXPECT_EQ(evidence_.size(), 0u);
}

TEST(EventConsumerTargetTest, EveryKindOfEventHasATargetString) {
  bpf::DecisionEvent e = Grant(0);
  e.family = AF_INET6;
  e.address = "::1";
  EXPECT_EQ(EventConsumer::TargetOf(e), "tcp:[::1]:5432");
  e.family = AF_UNIX;
  e.address = "/run/db.sock";
  EXPECT_EQ(EventConsumer::TargetOf(e), "unix:/run/db.sock");
  e.hook = "exec";
  e.dev = 3;
  e.ino = 99;
  EXPECT_EQ(EventConsumer::TargetOf(e), "exec:dev=3:ino=99");
  e.hook = "file_open";
  e.ino = 0;
  EXPECT_EQ(EventConsumer::TargetOf(e), "io_uring");
  e.hook = "fork";
  EXPECT_EQ(EventConsumer::TargetOf(e), "fork:clone_files");
}

}  // namespace
}  // namespace taogate::agent
