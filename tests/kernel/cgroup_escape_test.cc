// A governed root process leaving the governed tree (issue 20.2): with no
// BPF LSM to refuse the move, every cgroup hook stops running for it. The
// gate kills a governed process that moves itself (or another governed
// process) out, or forks a child outside with clone3(CLONE_INTO_CGROUP)
// (the process that ends up outside dies);
// a move by an ungoverned manager is a release, not an escape.
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr int kKilled = 128 + SIGKILL;

// Makes this process the reaper of orphaned descendants for the scope, so a
// test can collect the status of a grandchild whose parent was killed.
class Subreaper {
 public:
  Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
  // RunIn-style status of `pid`, or -1 if it has not ended in time.
  static int WaitFor(pid_t pid, int timeout_ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }
};

class CgroupEscapeTest : public GateTest {
 protected:
  void SetUp() override {
    GateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto out = ScopedCgroup::Create(root_.path() + "-outside");
    ASSERT_TRUE(out.ok()) << out.status();
    outside_ = std::move(*out);
  }
  void TearDown() override {
    GateTest::TearDown();
    outside_ = ScopedCgroup();
  }
  void Open() {
    gate_ = OpenGate();
    ASSERT_NE(gate_, nullptr);
    prot_ = ListenTcp();
    Protect(StrCat("tcp:127.0.0.1:", prot_.port));
  }
  // The escape: move itself out, then connect to the protected target.
  int EscapeAndConnect() {
    if (!MoveToCgroup(0, outside_.path()).ok()) return 200;
    return TryConnect("127.0.0.1", prot_.port);
  }
  ScopedCgroup outside_;
  Listener prot_;
};

TEST_F(CgroupEscapeTest, GovernedProcessMovingItselfOutIsKilled) {
  Open();
  EXPECT_EQ(RunIn(a_.path(), [&] { return EscapeAndConnect(); }), kKilled);
  EXPECT_EQ(Arrivals(prot_), 0);
  DrainEvents();
  int kills = 0;
  for (const auto& e : events_) {
    kills += e.hook == "cgroup_escape" && e.verdict == Verdict::kKill && e.cgroup_id == IdOf(a_.path());
  }
  EXPECT_EQ(kills, 1);
}

TEST_F(CgroupEscapeTest, NestedAndRootProcessesAreKilledToo) {
  Open();
  auto nested = ScopedCgroup::Create(a_.path() + "/container");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(RunIn(nested->path(), [&] { return EscapeAndConnect(); }), kKilled);
  EXPECT_EQ(RunIn(root_.path(), [&] { return EscapeAndConnect(); }), kKilled);
  // A thread doing the move takes the whole process with it.
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int r = 0;
              std::thread t([&] { r = MoveToCgroup(0, outside_.path()).ok() ? 0 : 200; });
              t.join();
              return r != 0 ? r : TryConnect("127.0.0.1", prot_.port);
            }), kKilled);
  EXPECT_EQ(Arrivals(prot_), 0);
}

// The writer stays governed (and alive: one signal per tracepoint run, see
// gate_escape.bpf.h); the process it moved out dies.
TEST_F(CgroupEscapeTest, GovernedProcessMovingAnotherOutKillsTheMovedOne) {
  Open();
  Subreaper reaper;
  int pids[2];
  ASSERT_EQ(pipe(pids), 0);
  UniqueFd rd(pids[0]), wr(pids[1]);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              pid_t g = fork();
              if (g == 0) {
                for (;;) pause();
              }
              if (write(wr.get(), &g, sizeof(g)) != sizeof(g)) return 201;
              if (!MoveToCgroup(g, outside_.path()).ok()) return 200;
              return 0;
            }), 0);
  pid_t g = -1;
  ASSERT_EQ(read(rd.get(), &g, sizeof(g)), static_cast<ssize_t>(sizeof(g)));
  EXPECT_EQ(Subreaper::WaitFor(g), kKilled);
}

TEST_F(CgroupEscapeTest, CloneIntoCgroupOutsideKillsTheChild) {
  Open();
  Subreaper reaper;
  int pids[2];
  ASSERT_EQ(pipe(pids), 0);
  UniqueFd rd(pids[0]), wr(pids[1]);
  int code = RunIn(a_.path(), [&] {
    UniqueFd cg(open(outside_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(cg.get());
    long child = syscall(SYS_clone3, &args, sizeof(args));
    if (child == 0) _exit(TryConnect("127.0.0.1", prot_.port));
    if (child < 0) return errno == ENOSYS ? 77 : 202;
    pid_t c = static_cast<pid_t>(child);
    if (write(wr.get(), &c, sizeof(c)) != sizeof(c)) return 201;
    return 0;
  });
  if (code == 77) GTEST_SKIP() << "no clone3";
  EXPECT_EQ(code, 0);
  pid_t c = -1;
  ASSERT_EQ(read(rd.get(), &c, sizeof(c)), static_cast<ssize_t>(sizeof(c)));
  EXPECT_EQ(Subreaper::WaitFor(c), kKilled);
  EXPECT_EQ(Arrivals(prot_), 0);
}

// A child parked in `cg` that signals once it is there and runs fn when told.
struct Parked {
  Parked(const std::string& cg, const std::function<int()>& fn) {
    EXPECT_EQ(pipe(ready_), 0);
    EXPECT_EQ(pipe(go_), 0);
    child_ = std::make_unique<Child>(cg, [this, fn] {
      char b = 'r';
      if (write(ready_[1], &b, 1) != 1 || read(go_[0], &b, 1) != 1) return 203;
      return fn();
    });
    char b;
    EXPECT_EQ(read(ready_[0], &b, 1), 1);
  }
  ~Parked() {
    for (int fd : {ready_[0], ready_[1], go_[0], go_[1]}) close(fd);
  }
  int Go(int timeout_ms = 5000) {
    EXPECT_EQ(write(go_[1], "g", 1), 1);
    return child_->Wait(timeout_ms).value_or(-1);
  }
  pid_t pid() const { return child_->pid(); }
  int ready_[2], go_[2];
  std::unique_ptr<Child> child_;
};

TEST_F(CgroupEscapeTest, ProcessGovernedBeforeTheGateOpenedIsKilled) {
  Parked c(a_.path(), [&] { return EscapeAndConnect(); });
  Open();  // the loader marks what is already inside
  EXPECT_EQ(c.Go(), kKilled);
}

TEST_F(CgroupEscapeTest, ReleaseByAnUngovernedManagerAndMovesInsideAreAllowed) {
  Open();
  // Inside the tree: a -> b, a -> a/sub.
  auto sub = ScopedCgroup::Create(a_.path() + "/sub");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(RunIn(a_.path(), [&] {
              if (!MoveToCgroup(0, b_.path()).ok()) return 200;
              if (!MoveToCgroup(0, sub->path()).ok()) return 201;
              return 0;
            }), 0);
  // Moved out by this (ungoverned) process: released, not killed.
  Parked c(a_.path(), [&] { return TryConnect("127.0.0.1", prot_.port); });
  ASSERT_TRUE(MoveToCgroup(c.pid(), outside_.path()).ok());
  EXPECT_EQ(c.Go(), 0);  // released: ungoverned now, connects
  // Ungoverned processes move freely.
  EXPECT_EQ(RunIn("", [&] { return MoveToCgroup(0, outside_.path()).ok() ? 0 : 1; }), 0);
}

TEST_F(CgroupEscapeTest, ProbeReportsDegradedSelfProtection) {
  Open();
  for (const char* name : {"cgroup_escape", "escape_fork"}) {
    bool found = false;
    for (const auto& h : gate_->Probe().hooks) {
      if (h.name == name) {
        found = true;
        EXPECT_EQ(h.state, HookState::kDegraded) << name;
      }
    }
    EXPECT_TRUE(found) << name;
  }
}

}  // namespace
}  // namespace taogate::bpf::testing
