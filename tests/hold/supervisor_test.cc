// The hold supervisor against real forked workloads under the real seccomp
// filter, connecting to a real loopback listener. Each test is one outcome a
// held workload can see.
#include "taogate/hold/supervisor.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "hold/hold_testing.h"
#include "taogate/common/strings.h"

namespace taogate::hold::testing {
namespace {

using std::chrono::milliseconds;

// A decider that records every held call and keeps its answer for the test.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> dests;
  std::vector<Supervisor::Answer> answers;
  std::function<std::optional<Verdict>(const Held&)> at_once = [](const Held&) { return std::nullopt; };

  Supervisor::Decide Decide() {
    return [this](const Held& h, Supervisor::Answer a) {
      auto v = at_once(h);
      std::lock_guard l(mu);
      dests.push_back(h.dest ? target::Format(*h.dest) : "-");
      if (v) a(*v);
      else answers.push_back(std::move(a));
      cv.notify_all();
    };
  }
  bool WaitHeld(size_t n, int ms = 10'000) {
    std::unique_lock l(mu);
    return cv.wait_for(l, milliseconds(ms), [&] { return answers.size() >= n; });
  }
  void AnswerAll(Verdict v) {
    std::vector<Supervisor::Answer> a;
    {
      std::lock_guard l(mu);
      a.swap(answers);
    }
    for (auto& f : a) f(v);
  }
};

std::unique_ptr<Supervisor> StartSup(Recorder& r, int64_t max_hold_ms = 10'000) {
  auto s = Supervisor::Start({.max_hold_ms = max_hold_ms}, r.Decide());
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

class HoldSupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HoldSupported()) GTEST_SKIP() << "no seccomp user notification here";
  }
  Loopback lb_;
  Recorder rec_;
};

TEST_F(HoldSupervisorTest, PermitLetsTheHeldConnectThrough) {
  rec_.at_once = [](const Held&) { return Verdict::Continue(); };
  auto sup = StartSup(rec_);
  uint16_t port = lb_.port;
  Workload w = StartHeld([port](int out) { Report(out, ConnectErrno(port)); });
  ASSERT_TRUE(sup->Add(std::move(w.listener)).ok());
  EXPECT_EQ(w.Next(), 0);
  EXPECT_EQ(lb_.Accepted(), 1);
  std::lock_guard l(rec_.mu);
  EXPECT_EQ(rec_.dests, std::vector<std::string>{StrCat("tcp:127.0.0.1:", port)});
}

TEST_F(HoldSupervisorTest, DenyFailsWithEaccesAndNothingConnects) {
  rec_.at_once = [](const Held&) { return Verdict::Fail(EACCES); };
  auto sup = StartSup(rec_);
  uint16_t port = lb_.port;
  Workload w = StartHeld([port](int out) { Report(out, ConnectErrno(port)); });
  ASSERT_TRUE(sup->Add(std::move(w.listener)).ok());
  EXPECT_EQ(w.Next(), EACCES);
  EXPECT_EQ(lb_.Accepted(), 0);
}

TEST_F(HoldSupervisorTest, NoAnswerWithinMaxHoldIsEtimedout) {
  auto sup = StartSup(rec_, /*max_hold_ms=*/300);
  uint16_t port = lb_.port;
  auto t0 = std::chrono::steady_clock::now();
  Workload w = StartHeld([port](int out) { Report(out, ConnectErrno(port)); });
  ASSERT_TRUE(sup->Add(std::move(w.listener)).ok());
  EXPECT_EQ(w.Next(), ETIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(300));
  rec_.AnswerAll(Verdict::Continue());  // too late: a no-op
  EXPECT_EQ(lb_.Accepted(), 0);
  // Counted just after the answer reached the workload: wait for it.
  for (int i = 0; i < 500 && sup->stats().timed_out == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(sup->stats().timed_out, 1u);
}

TEST_F(HoldSupervisorTest, UnprotectedTargetContinuesAtOnceProtectedOneWaits) {
  Loopback protected_lb;
  const std::string prot = StrCat("tcp:127.0.0.1:", protected_lb.port);
  rec_.at_once = [prot](const Held& h) -> std::optional<Verdict> {
    if (h.dest && target::Format(*h.dest) == prot) return std::nullopt;
    return Verdict::Continue();
  };
  auto sup = StartSup(rec_);
  uint16_t open = lb_.port, closed = protected_lb.port;
  Workload w = StartHeld([=](int out) {
    Report(out, ConnectErrno(open));
    Report(out, ConnectErrno(closed));
  });
  ASSERT_TRUE(sup->Add(std::move(w.listener)).ok());
  EXPECT_EQ(w.Next(), 0);
  ASSERT_TRUE(rec_.WaitHeld(1));
  EXPECT_EQ(w.Next(200), -1);  // still held
  rec_.AnswerAll(Verdict::Fail(EACCES));
  EXPECT_EQ(w.Next(), EACCES);
  EXPECT_EQ(protected_lb.Accepted(), 0);
}

TEST_F(HoldSupervisorTest, NonBlockingConnectKeepsItsOwnResult) {
  const int unfiltered = ConnectErrno(lb_.port, /*nonblock=*/true);
  rec_.at_once = [](const Held&) { return Verdict::Continue(); };
  auto sup = StartSup(rec_);
  uint16_t port = lb_.port;
  Workload w = StartHeld([port](int out) { Report(out, ConnectErrno(port, true)); });
  ASSERT_TRUE(sup->Add(std::move(w.listener)).ok());
  int held = w.Next();
  EXPECT_TRUE(held == 0 || held == EINPROGRESS) << held;
  EXPECT_EQ(held, unfiltered);
}

TEST_F(HoldSupervisorTest, SignalRestartedConnectJoinsTheDecisionUnderWay) {
  auto sup = StartSup(rec_);
  uint16_t port = lb_.port;
  Workload w = StartHeld([port](int out) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, nullptr);
    Report(out, ConnectErrno(port));
  });
  ASSERT_TRUE(sup->Add(std::move(w.listener)).ok());
  ASSERT_TRUE(rec_.WaitHeld(1));
  kill(w.pid, SIGUSR1);
  for (int i = 0; i < 500 && sup->stats().joined == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(sup->stats().joined, 1u);
  rec_.AnswerAll(Verdict::Continue());
  EXPECT_EQ(w.Next(), 0);
  std::lock_guard l(rec_.mu);
  EXPECT_EQ(rec_.dests.size(), 1u);  // asked once
}

TEST_F(HoldSupervisorTest, WorkloadDyingMidHoldLeavesTheSupervisorServing) {
  auto sup = StartSup(rec_);
  uint16_t port = lb_.port;
  {
    Workload w = StartHeld([port](int out) { Report(out, ConnectErrno(port)); });
    ASSERT_TRUE(sup->Add(std::move(w.listener)).ok());
    ASSERT_TRUE(rec_.WaitHeld(1));
    kill(w.pid, SIGKILL);
    w.Wait();
  }
  rec_.AnswerAll(Verdict::Continue());  // to a dead task: dropped
  EXPECT_EQ(sup->stats().gone, 1u);
  rec_.at_once = [](const Held&) { return Verdict::Continue(); };
  Workload w2 = StartHeld([port](int out) { Report(out, ConnectErrno(port)); });
  ASSERT_TRUE(sup->Add(std::move(w2.listener)).ok());
  EXPECT_EQ(w2.Next(), 0);
  EXPECT_EQ(lb_.Accepted(), 1);
}

// The supervisor is its own process here, SIGKILLed while 16 threads of the
// workload are held: every one fails (ENOSYS: the listener is gone), none
// connects, and a later connect fails the same way.
TEST_F(HoldSupervisorTest, SupervisorKilledWithSixteenHeldFailsThemAllNoneConnects) {
  constexpr int kThreads = 16;
  uint16_t port = lb_.port;
  Workload w = StartHeld([port](int out) {
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i) ts.emplace_back([&] { Report(out, ConnectErrno(port)); });
    for (auto& t : ts) t.join();
    Report(out, ConnectErrno(port));
  });
  int held_pipe[2];
  ASSERT_EQ(pipe2(held_pipe, O_CLOEXEC), 0);
  pid_t sup_pid = fork();
  if (sup_pid == 0) {
    close(held_pipe[0]);
    Recorder r;
    int out = held_pipe[1];
    r.at_once = [out](const Held&) {
      Report(out, 1);
      return std::nullopt;
    };
    auto s = Supervisor::Start({.max_hold_ms = 600'000}, r.Decide());
    if (!s.ok() || !(*s)->Add(std::move(w.listener)).ok()) _exit(1);
    while (true) pause();
  }
  close(held_pipe[1]);
  w.listener.Reset();  // the supervisor process holds the only copy
  Workload held_counter;
  held_counter.results.Reset(held_pipe[0]);
  for (int i = 0; i < kThreads; ++i) ASSERT_EQ(held_counter.Next(), 1) << "held " << i;
  kill(sup_pid, SIGKILL);
  waitpid(sup_pid, nullptr, 0);
  for (int i = 0; i < kThreads + 1; ++i) EXPECT_EQ(w.Next(), ENOSYS) << i;
  EXPECT_EQ(lb_.Accepted(), 0);
}

TEST(HoldDestination, ReadsInetInet6MappedAndUnixButNotAbstract) {
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(5432);
  inet_pton(AF_INET6, "::ffff:10.0.0.5", &a6.sin6_addr);
  auto t = DestinationOf(&a6, sizeof(a6), SOCK_STREAM);
  ASSERT_TRUE(t);
  EXPECT_EQ(target::Format(*t), "tcp:10.0.0.5:5432");  // the IPv4 host the gate sees
  a6.sin6_port = 0;
  EXPECT_FALSE(DestinationOf(&a6, sizeof(a6), SOCK_DGRAM));  // no port: nothing to protect
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strcpy(un.sun_path, "/run/pg/.s.PGSQL.5432");
  t = DestinationOf(&un, sizeof(un), SOCK_STREAM);
  ASSERT_TRUE(t);
  EXPECT_EQ(target::Format(*t), "unix:/run/pg/.s.PGSQL.5432");
  un.sun_path[0] = '\0';
  EXPECT_FALSE(DestinationOf(&un, sizeof(un), SOCK_STREAM));
  EXPECT_FALSE(DestinationOf(&un, 1, SOCK_STREAM));
}

}  // namespace
}  // namespace taogate::hold::testing
