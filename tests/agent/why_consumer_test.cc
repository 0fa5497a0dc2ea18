// What the kernel delivers becomes the Why answer: the event consumer feeds
// the DenialLog with a reason per verdict, and a grant used then a deny to
// the same target reads `consumed` with that TAO's id.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "kernel_fakes.h"
#include "redeem_fakes.h"
#include "taogate/agent/event_consumer.h"

namespace taogate::agent {
namespace {

bpf::DecisionEvent Event(bpf::Verdict v, uint32_t pid = 100) {
  bpf::DecisionEvent e;
  e.verdict = v;
  e.cgroup_id = 7;
  e.pid = pid;
  e.hook = "connect4";
  e.family = AF_INET;
  e.proto = 6;
  e.port = 5432;
  e.address = "127.0.0.1";
  return e;
}

class WhyConsumerTest : public ::testing::Test {
 protected:
  std::vector<Denial> Drain() {
    EventConsumer c(source_, evidence_, metrics_, {});
    c.set_enforcer(&enforcement_);
    c.set_denial_log(&log_);
    c.Start();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    c.Stop();
    return log_.Query(0, 7, 100);
  }
  fakes::QueueDecisionSource source_;
  fakes::FixedEnforcement enforcement_;
  fakes::MemoryEvidence evidence_;
  Metrics metrics_;
  DenialLog log_;
};

TEST_F(WhyConsumerTest, GrantUsedThenDenyIsConsumed) {
  bpf::DecisionEvent g = Event(bpf::Verdict::kAllowGrant);
  g.tao_id.fill(0xab);
  source_.Push(g);
  source_.Push(Event(bpf::Verdict::kDeny));
  auto out = Drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "consumed");
  EXPECT_EQ(out[0].tao_id, g.tao_id);
  EXPECT_EQ(out[0].target, "tcp:127.0.0.1:5432");
  EXPECT_EQ(out[0].pid, 100u);
}

TEST_F(WhyConsumerTest, EachVerdictHasItsReason) {
  source_.Push(Event(bpf::Verdict::kDeny, 1));
  source_.Push(Event(bpf::Verdict::kDenyExpired, 2));
  source_.Push(Event(bpf::Verdict::kDenyQuarantine, 3));
  source_.Push(Event(bpf::Verdict::kDenyRaw, 4));
  source_.Push(Event(bpf::Verdict::kKill, 5));
  auto out = Drain();
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[4].reason, "no_grant");
  EXPECT_EQ(out[3].reason, "expired");
  EXPECT_EQ(out[2].reason, "quarantined");
  EXPECT_EQ(out[1].reason, "raw_socket");
  EXPECT_EQ(out[0].reason, "killed");
}

TEST_F(WhyConsumerTest, LsmDenialsHaveTheirReason) {
  enforcement_.Push({.cgroup_id = 7, .pid = 9, .hook = "file_open", .ino = 42});
  enforcement_.Push({.cgroup_id = 7, .pid = 9, .hook = "task_kill", .target_pid = 1});
  auto out = Drain();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].reason, "file_denied");
  EXPECT_EQ(out[1].hook, "lsm/file_open");
  EXPECT_EQ(out[0].reason, "self_protection");
}

}  // namespace
}  // namespace taogate::agent
