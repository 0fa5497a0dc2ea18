// EventConsumer without root: decision events and LSM denials come from
// fakes (kernel_fakes.h), evidence is in memory. What the kernel delivers
// must become exactly the evidence the design promises: one EXERCISED per
// grant, never two, and denials folded into bounded DENIED summaries.
#include "taogate/agent/event_consumer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "kernel_fakes.h"
#include "taogate/agent/ledger_evidence.h"
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
  // Polls the metrics (the consumer runs on its own thread) for up to 10 s.
  bool MetricBecomes(const std::string& line) {
    for (int i = 0; i < 1000; ++i) {
      if (metrics_.Render("").find(line) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
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

// The ledger's filesystem below its floor refuses EXERCISED (and redeems).
// Grants installed before that are still used; their EXERCISED records must
// wait, in order, and be written once there is room: evidence of a connect
// that happened is never dropped (found by the load + chaos test).
TEST_F(EventConsumerTest, ExercisedBelowTheLedgerFloorIsHeldAndWrittenWhenRoomReturns) {
  fakes::FakeSpace space;
  ReservedEvidence reserved(evidence_, space, SpaceReserve{.reserve_bytes = 64 << 20, .floor_bytes = 4 << 20});
  options_.denied_flush_ms = 10;
  EventConsumer c(source_, reserved, metrics_, options_);
  space.free_ = 1 << 20;  // below the floor
  c.Start();
  source_.Push(Grant(0x11));
  source_.Push(Grant(0x22));
  source_.Push(Grant(0x11));  // a re-read: still one record
  ASSERT_TRUE(MetricBecomes("taogate_agent_exercised_pending 2\n")) << metrics_.Render("");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a few retries, all refused
  EXPECT_EQ(evidence_.Count(Kind::kExercised), 0u);

  space.free_ = 1ull << 30;  // room again
  for (int i = 0; i < 1000 && evidence_.Count(Kind::kExercised) < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  c.Stop();
  ASSERT_EQ(evidence_.Count(Kind::kExercised), 2u);
  auto first = evidence_.Find(Kind::kExercised, "tao_id", std::string(32, '1'));
  auto second = evidence_.Find(Kind::kExercised, "tao_id", std::string(32, '2'));
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  // Written late, so each carries the kernel event's time.
  EXPECT_FALSE(fakes::MemoryEvidence::FieldOf(first[0], "first_seen_ms").empty());
  EXPECT_NE(metrics_.Render("").find("taogate_agent_exercised_pending 0\n"), std::string::npos);
  EXPECT_NE(metrics_.Render("").find("taogate_agent_exercised_lost_total 0\n"), std::string::npos);
}

TEST_F(EventConsumerTest, ExercisedHeldInEventOrderAndTheQueueIsBounded) {
  fakes::FakeSpace space;
  ReservedEvidence reserved(evidence_, space, SpaceReserve{.reserve_bytes = 64 << 20, .floor_bytes = 4 << 20});
  options_.denied_flush_ms = 10;
  options_.max_pending_exercised = 3;
  space.free_ = 0;
  for (uint8_t id = 1; id <= 5; ++id) source_.Push(Grant(static_cast<uint8_t>(id * 0x11)));
  {
    EventConsumer c(source_, reserved, metrics_, options_);
    c.Start();
    ASSERT_TRUE(MetricBecomes("taogate_agent_exercised_lost_total 2\n")) << metrics_.Render("");
    space.free_ = 1ull << 30;
    for (int i = 0; i < 1000 && evidence_.Count(Kind::kExercised) < 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // The two oldest gave way (counted); the three kept are in event order.
  ASSERT_EQ(evidence_.Count(Kind::kExercised), 3u);
  EXPECT_NE(metrics_.Render("").find("taogate_agent_exercised_lost_total 2\n"), std::string::npos);
  EXPECT_EQ(evidence_.LastField("tao_id"), std::string(32, '5'));
  EXPECT_EQ(evidence_.Find(Kind::kExercised, "tao_id", std::string(32, '1')).size(), 0u);
  EXPECT_EQ(evidence_.Find(Kind::kExercised, "tao_id", std::string(32, '3')).size(), 1u);
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
