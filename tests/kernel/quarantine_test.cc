// Quarantine (kill switch): established flows stop passing data, new
// connects are denied, kill mode SIGKILLs on the next syscall; other
// workloads and ungoverned processes are untouched.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

class QuarantineTest : public OpenGateTest {};

TEST_F(QuarantineTest, EstablishedFlowStopsAndOthersAreUntouched) {
  Listener l = ListenTcp();
  int ca[2], cb[2];
  ASSERT_EQ(pipe(ca), 0);
  ASSERT_EQ(pipe(cb), 0);
  Child talker_a(a_.path(), Talker(l.port, ca[0]));
  UniqueFd conn_a(accept(l.fd.get(), nullptr, nullptr));
  Child talker_b(b_.path(), Talker(l.port, cb[0]));
  UniqueFd conn_b(accept(l.fd.get(), nullptr, nullptr));
  ASSERT_TRUE(conn_a && conn_b);
  ASSERT_EQ(write(ca[1], "1", 1), 1);
  ASSERT_TRUE(Receives(conn_a.get(), 2000));

  ASSERT_TRUE(gate_->Quarantine(IdOf(a_.path()), QuarantineMode::kNetwork).ok());
  ASSERT_EQ(write(ca[1], "2", 1), 1);
  ASSERT_EQ(write(cb[1], "3", 1), 1);
  EXPECT_FALSE(Receives(conn_a.get(), 1000)) << "quarantined flow still passes data";
  EXPECT_TRUE(Receives(conn_b.get(), 2000)) << "other workload was affected";
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  EXPECT_EQ(TryConnect("127.0.0.1", l.port), 0);  // ungoverned: untouched

  // Released: TCP retransmits the dropped byte.
  ASSERT_TRUE(gate_->Release(IdOf(a_.path())).ok());
  EXPECT_TRUE(Receives(conn_a.get(), 5000));
  auto counters = gate_->Counters();
  ASSERT_TRUE(counters.ok());
  EXPECT_GT((*counters)["skb_dropped"], 0u);
  for (int fd : {ca[0], ca[1], cb[0], cb[1]}) close(fd);
}

TEST_F(QuarantineTest, KillModeKillsOnNextSyscallOnly) {
  auto spin = [] {
    for (;;) {
      (void)getppid();
      usleep(1000);
    }
    return 0;
  };
  Child victim(a_.path(), spin);
  Child bystander(b_.path(), spin);
  Child outsider("", spin);
  ASSERT_FALSE(victim.Wait(100).has_value());
  ASSERT_TRUE(gate_->Quarantine(IdOf(a_.path()), QuarantineMode::kKill).ok());
  EXPECT_EQ(victim.Wait(5000), 128 + SIGKILL);
  EXPECT_FALSE(bystander.Wait(300).has_value());
  EXPECT_FALSE(outsider.Wait(10).has_value());
  DrainEvents();
  bool saw_kill = false;
  for (const auto& e : events_) {
    if (e.verdict == Verdict::kKill && e.pid == static_cast<uint32_t>(victim.pid())) {
      saw_kill = true;
      EXPECT_EQ(e.cgroup_id, IdOf(a_.path()));
      EXPECT_EQ(e.hook, "sys_enter");
    }
  }
  EXPECT_TRUE(saw_kill);
  // The global syscall hook exists only while a kill is engaged.
  auto sys_enter = [&] {
    for (const auto& h : Gate::ProbePinned(pin_root_).hooks) {
      if (h.name == "sys_enter") return h.state;
    }
    return HookState::kAbsent;
  };
  EXPECT_EQ(sys_enter(), HookState::kDegraded);
  ASSERT_TRUE(gate_->Release(IdOf(a_.path())).ok());
  EXPECT_EQ(sys_enter(), HookState::kAbsent);
  EXPECT_FALSE(bystander.Wait(100).has_value());
}

TEST_F(QuarantineTest, KillQuarantineSurvivesLoaderRestart) {
  ASSERT_TRUE(gate_->Quarantine(IdOf(a_.path()), QuarantineMode::kKill).ok());
  gate_.reset();  // the loader goes away; the pinned kill hook stays
  Child victim(a_.path(), [] {
    for (;;) (void)getppid();
    return 0;
  });
  EXPECT_EQ(victim.Wait(5000), 128 + SIGKILL);
  gate_ = OpenGate();
  ASSERT_NE(gate_, nullptr);
  Child again(a_.path(), [] {
    for (;;) (void)getppid();
    return 0;
  });
  EXPECT_EQ(again.Wait(5000), 128 + SIGKILL);
}

TEST_F(QuarantineTest, QuarantineAllCoversEveryWorkloadButNotOutsiders) {
  Listener l = ListenTcp();
  ASSERT_TRUE(gate_->QuarantineAll(QuarantineMode::kNetwork).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  EXPECT_EQ(RunIn(b_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  EXPECT_EQ(RunIn("", [&] { return TryConnect("127.0.0.1", l.port); }), 0);
  ASSERT_TRUE(gate_->ReleaseAll().ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), 0);
}

TEST_F(QuarantineTest, QuarantineSurvivesLoaderRestart) {
  Listener l = ListenTcp();
  ASSERT_TRUE(gate_->Quarantine(IdOf(a_.path()), QuarantineMode::kNetwork).ok());
  gate_.reset();
  gate_ = OpenGate();
  ASSERT_NE(gate_, nullptr);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
}

}  // namespace
}  // namespace taogate::bpf::testing
