// Helpers for kernel tests: a private bpffs instance, a governed cgroup
// subtree with two workload cgroups created for the test (unique names), real
// loopback listeners, and running a function in a child process that lives in
// a chosen cgroup. Everything is torn down on every path (RAII + TearDown).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/fd.h"
#include "testing/testing.h"

namespace taogate::bpf::testing {

// A protected target ("tcp:127.0.0.0/8:*") or a grant's destination
// ("tcp:127.0.0.1:5432", "unix:/run/x.sock"); a malformed spec fails the test.
target::Target Spec(const std::string& spec);
target::Target Dest(const std::string& spec);

uint64_t MonoNowNs();

// A bound + listening (TCP/unix stream) or bound (UDP/unix dgram) socket.
struct Listener {
  UniqueFd fd;
  uint16_t port = 0;
  std::string path;  // unix
};
Listener ListenTcp(int family = 2 /*AF_INET*/);
Listener BindUdp();
// On a given IP literal ("127.0.0.2", "::1").
Listener ListenTcpOn(const std::string& ip);
Listener BindUdpOn(const std::string& ip);
// Connections accepted (TCP) or datagrams read (UDP) on `l` within
// wait_ms; drains them. Lets a test prove a destination was not reached.
int Arrivals(const Listener& l, int wait_ms = 50);
Listener ListenUnix(const std::string& path, int type = 1 /*SOCK_STREAM*/);

// Fills *ss for an IP literal and port; returns its length (0 if bad).
socklen_t MakeSockaddr(const std::string& addr, uint16_t port, sockaddr_storage* ss);

// 0 on success, else errno. `addr` is an IP literal.
int TryConnect(const std::string& addr, uint16_t port, int type = 1 /*SOCK_STREAM*/);
int TrySendTo(const std::string& addr, uint16_t port);
int TryConnectUnix(const std::string& path, int type = 1);

// An established-flow probe: the child body connects to 127.0.0.1:port and
// sends one byte per byte read from `ctl` (exit 10: connect failed, 11: send
// failed); Receives says whether bytes arrive on the accepted end in time.
std::function<int()> Talker(uint16_t port, int ctl);
bool Receives(int fd, int timeout_ms);

// Forks; the child moves itself into `cgroup` (empty: stays where it is),
// runs fn and exits with its return value. Returns the exit code, or
// 128 + signal if the child was killed.
int RunIn(const std::string& cgroup, const std::function<int()>& fn);

// A child process parked in `cgroup` that runs fn; killed (SIGKILL) and
// reaped on destruction.
class Child {
 public:
  Child(const std::string& cgroup, const std::function<int()>& fn);
  ~Child();
  pid_t pid() const { return pid_; }
  // Waits up to timeout_ms; returns the RunIn-style status or nullopt.
  std::optional<int> Wait(int timeout_ms);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

class GateTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens (or adopts) the gate for this test's governed root.
  std::unique_ptr<Gate> OpenGate(Mode mode = Mode::kProtectListed, bool syscall_hook_always = false);
  void Protect(const std::string& spec);
  uint64_t IdOf(const std::string& cgroup);
  // Drains pending events into events_.
  void DrainEvents();

  TaoId Tao(uint8_t seed) const {
    TaoId t{};
    t.fill(seed);
    return t;
  }

  taogate::testing::TempDir tmp_;
  std::string bpffs_;
  std::string pin_root_;
  ScopedCgroup root_;
  ScopedCgroup a_;
  ScopedCgroup b_;
  std::unique_ptr<Gate> gate_;
  std::vector<DecisionEvent> events_;
};

// A GateTest whose gate is open (protect-listed mode) before the test body.
class OpenGateTest : public GateTest {
 protected:
  void SetUp() override {
    GateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    gate_ = OpenGate();
    ASSERT_NE(gate_, nullptr);
  }
};

}  // namespace taogate::bpf::testing
