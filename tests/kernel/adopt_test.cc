// Fail closed across loader death and restart: pinned links keep enforcing
// after the loader is SIGKILLed; a new loader adopts maps and grants; only an
// explicit Detach removes enforcement.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

// Starts the loader helper and waits for "ready"; returns its pid (or -1).
pid_t StartLoader(const std::vector<std::string>& args) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    std::string bin = taogate::testing::BinPath("taogate-test-gate-loader");
    std::vector<char*> argv{bin.data()};
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(p[1]);
  char buf[16] = {};
  ssize_t n = read(p[0], buf, sizeof(buf) - 1);
  close(p[0]);
  if (n <= 0 || std::string(buf).rfind("ready", 0) != 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

using AdoptTest = GateTest;

TEST_F(AdoptTest, LoaderKilledStaysDeniedAndNewLoaderAdoptsGrants) {
  Listener granted = ListenTcp(), denied = ListenTcp();
  uint64_t a_id = IdOf(a_.path());
  pid_t loader = StartLoader({pin_root_, root_.path(),
                              "target", StrCat("tcp:127.0.0.1:", granted.port),
                              "target", StrCat("tcp:127.0.0.1:", denied.port),
                              "grant", std::to_string(a_id), "127.0.0.1",
                              std::to_string(granted.port), "60000"});
  ASSERT_GT(loader, 0);
  ASSERT_EQ(kill(loader, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(loader, &status, 0), loader);
  ASSERT_TRUE(WIFSIGNALED(status));

  // No loader alive: the pinned gate still enforces.
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", denied.port); }), EPERM);
  for (const auto& h : Gate::ProbePinned(pin_root_).hooks) {
    if (h.name == "connect4") {
      EXPECT_EQ(h.state, HookState::kEnforcing);
    }
  }

  // A new loader adopts the pinned maps: the grant issued before the crash
  // is still there and still single-use.
  gate_ = OpenGate();
  ASSERT_NE(gate_, nullptr);
  EXPECT_TRUE(gate_->adopted());
  EXPECT_EQ(*gate_->GrantCount(), 1u);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", granted.port); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", granted.port); }), EPERM);
  // Events produced while no loader ran are still in the pinned ring buffer.
  DrainEvents();
  ASSERT_GE(events_.size(), 3u);
  EXPECT_EQ(events_[0].verdict, Verdict::kDeny);
  EXPECT_EQ(events_[1].verdict, Verdict::kAllowGrant);
  EXPECT_EQ(events_[1].tao_id, Tao(0x5a));
}

TEST_F(AdoptTest, ClosingTheGateDoesNotDetach) {
  Listener l = ListenTcp();
  gate_ = OpenGate();
  ASSERT_NE(gate_, nullptr);
  EXPECT_FALSE(gate_->adopted());
  Protect(StrCat("tcp:127.0.0.1:", l.port));
  gate_.reset();
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  // Only the explicit operator action lifts it.
  ASSERT_TRUE(Gate::Detach(pin_root_).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), 0);
}

TEST_F(AdoptTest, UpgradeSwapsProgramsWithoutAWindow) {
  Listener l = ListenTcp();
  gate_ = OpenGate();
  ASSERT_NE(gate_, nullptr);
  Protect(StrCat("tcp:127.0.0.1:", l.port));
  // A governed process hammers the protected target while the gate is
  // re-opened (programs reloaded and swapped into the pinned links) several
  // times; not one connect may succeed.
  int ctl[2];
  ASSERT_EQ(pipe(ctl), 0);
  uint16_t port = l.port;
  Child hammer(a_.path(), [&] {
    close(ctl[1]);
    int successes = 0, attempts = 0;
    pollfd p{ctl[0], POLLIN, 0};
    while (poll(&p, 1, 0) == 0) {  // until the parent closes the pipe
      if (TryConnect("127.0.0.1", port) == 0) ++successes;
      ++attempts;
    }
    return successes > 0 ? 1 : attempts < 100 ? 2 : 0;
  });
  close(ctl[0]);
  for (int i = 0; i < 3; ++i) {
    gate_.reset();
    gate_ = OpenGate();
    ASSERT_NE(gate_, nullptr);
    EXPECT_TRUE(gate_->adopted());
  }
  close(ctl[1]);
  EXPECT_EQ(hammer.Wait(60000), 0) << "1: a connect got through during the swap";
}

TEST_F(AdoptTest, RefusesPinnedStateOfAnotherGovernedRoot) {
  gate_ = OpenGate();
  ASSERT_NE(gate_, nullptr);
  gate_.reset();
  GateOptions o;
  o.pin_root = pin_root_;
  o.governed_cgroup = a_.path();
  auto other = Gate::OpenOrAdopt(o);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AdoptTest, MissingBpffsIsAnError) {
  GateOptions o;
  o.pin_root = (tmp_.path() / "not-bpffs" / "taogate").string();
  o.governed_cgroup = root_.path();
  std::filesystem::create_directories(tmp_.path() / "not-bpffs");
  EXPECT_EQ(Gate::OpenOrAdopt(o).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace taogate::bpf::testing
