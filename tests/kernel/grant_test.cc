// One-shot grants: consumed atomically in the kernel, bound to a workload
// cgroup (serving its descendants), expiring in CLOCK_MONOTONIC, and every
// allow-by-grant and deny reported on the ring buffer.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr uint64_t kTenSeconds = 10'000'000'000ull;

class GrantTest : public OpenGateTest {
 protected:
  void SetUp() override {
    OpenGateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    prot_ = ListenTcp();
    Protect(StrCat("tcp:127.0.0.1:", prot_.port));
  }
  target::Target Target() const { return Dest(StrCat("tcp:127.0.0.1:", prot_.port)); }
  int ConnectFrom(const std::string& cg) {
    return RunIn(cg, [&] { return TryConnect("127.0.0.1", prot_.port); });
  }
  Listener prot_;
};

TEST_F(GrantTest, GrantAllowsExactlyOneConnect) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(1), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(ConnectFrom(a_.path()), 0);
  EXPECT_EQ(ConnectFrom(a_.path()), EPERM);
}

TEST_F(GrantTest, SixteenRacingThreadsOneWinner) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(2), MonoNowNs() + kTenSeconds).ok());
  uint16_t port = prot_.port;
  int winners = RunIn(a_.path(), [port] {
    std::atomic<int> ready{0}, ok{0}, eperm{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i) {
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < 16) {
        }
        int r = TryConnect("127.0.0.1", port);
        if (r == 0) ok.fetch_add(1);
        if (r == EPERM) eperm.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    return ok.load() + 100 * (eperm.load() == 15);
  });
  EXPECT_EQ(winners, 101) << "expected 1 success and 15 EPERM";
}

TEST_F(GrantTest, ExpiredGrantIsDenied) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(3), MonoNowNs() + 50'000'000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_EQ(ConnectFrom(a_.path()), EPERM);
  DrainEvents();
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().verdict, Verdict::kDenyExpired);
}

TEST_F(GrantTest, InstallRefusesAlreadyExpired) {
  EXPECT_EQ(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(3), MonoNowNs() - 1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(GrantTest, GrantForCgroupADoesNotHelpB) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(4), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(ConnectFrom(b_.path()), EPERM);
  EXPECT_EQ(ConnectFrom(a_.path()), 0);  // B's attempt did not consume A's grant
}

TEST_F(GrantTest, GrantIsForOneTargetOnly) {
  Listener other = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", other.port));
  Protect(StrCat("udp:127.0.0.1:", prot_.port));
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(5), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", other.port); }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", prot_.port, SOCK_DGRAM); }), EPERM);
  EXPECT_EQ(ConnectFrom(a_.path()), 0);
}

TEST_F(GrantTest, WorkloadIdOfPidResolvesNestedCallers) {
  auto c = ScopedCgroup::Create(a_.path() + "/container");
  ASSERT_TRUE(c.ok());
  int ctl[2];
  ASSERT_EQ(pipe(ctl), 0);
  Child nested(c->path(), [&] {
    char x;
    return read(ctl[0], &x, 1) == 1 ? 0 : 1;
  });
  // Wait until the child has moved itself.
  for (int i = 0; i < 200; ++i) {
    auto cg = CgroupPathOfPid(nested.pid());
    if (cg.ok() && *cg == c->path()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto id = gate_->WorkloadIdOfPid(nested.pid());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, IdOf(a_.path()));
  EXPECT_EQ(gate_->WorkloadIdOfPid(getpid()).status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(write(ctl[1], "x", 1), 1);
  EXPECT_EQ(nested.Wait(5000), 0);
  close(ctl[0]);
  close(ctl[1]);
}

TEST_F(GrantTest, PodLevelGrantServesNestedContainer) {
  auto c = ScopedCgroup::Create(a_.path() + "/container");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(6), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(ConnectFrom(c->path()), 0);
  EXPECT_EQ(ConnectFrom(c->path()), EPERM);
}

TEST_F(GrantTest, DuplicateLiveGrantIsRefusedLoudly) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(7), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(8), MonoNowNs() + kTenSeconds).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ConnectFrom(a_.path()), 0);
  // Consumed: the slot is free again.
  EXPECT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(9), MonoNowNs() + kTenSeconds).ok());
}

TEST_F(GrantTest, RevokedGrantIsDenied) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(10), MonoNowNs() + kTenSeconds).ok());
  ASSERT_TRUE(gate_->RevokeGrant(IdOf(a_.path()), Target()).ok());
  EXPECT_EQ(ConnectFrom(a_.path()), EPERM);
}

TEST_F(GrantTest, UdpAndUnixGrantsAreOneShot) {
  Listener u = BindUdp();
  Protect(StrCat("udp:127.0.0.1:", u.port));
  target::Target ug = Dest(StrCat("udp:127.0.0.1:", u.port));
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), ug, Tao(11), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TrySendTo("127.0.0.1", u.port); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TrySendTo("127.0.0.1", u.port); }), EPERM);

  std::string path = (tmp_.path() / "db.sock").string();
  Listener l = ListenUnix(path);
  Protect("unix:" + path);
  target::Target xg = Dest("unix:" + path);
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), xg, Tao(12), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(RunIn(b_.path(), [&] { return TryConnectUnix(path); }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnectUnix(path); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnectUnix(path); }), EPERM);

  DrainEvents();
  ASSERT_EQ(events_.size(), 5u);
  EXPECT_EQ(events_[0].hook, "sendmsg4");
  EXPECT_EQ(events_[0].verdict, Verdict::kAllowGrant);
  EXPECT_EQ(events_[0].proto, IPPROTO_UDP);
  EXPECT_EQ(events_[0].tao_id, Tao(11));
  EXPECT_EQ(events_[1].verdict, Verdict::kDeny);
  EXPECT_EQ(events_[2].hook, "connect_unix");
  EXPECT_EQ(events_[2].verdict, Verdict::kDeny);
  EXPECT_EQ(events_[2].cgroup_id, IdOf(b_.path()));
  EXPECT_EQ(events_[3].verdict, Verdict::kAllowGrant);
  EXPECT_EQ(events_[3].family, AF_UNIX);
  EXPECT_EQ(events_[3].tao_id, Tao(12));
  EXPECT_EQ(events_[3].address, path.substr(0, 16));
  EXPECT_EQ(events_[4].verdict, Verdict::kDeny);
}

TEST_F(GrantTest, EventsCarryTheDecisionFields) {
  uint64_t a_id = IdOf(a_.path());
  ASSERT_TRUE(gate_->InstallGrant(a_id, Target(), Tao(0x42), MonoNowNs() + kTenSeconds).ok());
  Child allow(a_.path(), [&] { return TryConnect("127.0.0.1", prot_.port); });
  ASSERT_EQ(allow.Wait(5000), 0);
  Child deny(b_.path(), [&] { return TryConnect("127.0.0.1", prot_.port); });
  ASSERT_EQ(deny.Wait(5000), EPERM);
  DrainEvents();
  ASSERT_EQ(events_.size(), 2u);
  const DecisionEvent& e = events_[0];
  EXPECT_EQ(e.verdict, Verdict::kAllowGrant);
  EXPECT_EQ(e.hook, "connect4");
  EXPECT_EQ(e.cgroup_id, a_id);
  EXPECT_EQ(e.tao_id, Tao(0x42));
  EXPECT_EQ(e.pid, static_cast<uint32_t>(allow.pid()));
  EXPECT_EQ(e.family, AF_INET);
  EXPECT_EQ(e.proto, IPPROTO_TCP);
  EXPECT_EQ(e.port, prot_.port);
  EXPECT_EQ(e.address, "127.0.0.1");
  const DecisionEvent& d = events_[1];
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.cgroup_id, IdOf(b_.path()));
  EXPECT_EQ(d.tao_id, TaoId{});
  EXPECT_EQ(d.pid, static_cast<uint32_t>(deny.pid()));
  EXPECT_EQ(d.port, prot_.port);
  EXPECT_GE(d.time_ns, e.time_ns);
  auto counters = gate_->Counters();
  ASSERT_TRUE(counters.ok());
  EXPECT_EQ((*counters)["allow_grant"], 1u);
  EXPECT_EQ((*counters)["deny"], 1u);
}

TEST_F(GrantTest, SweepRemovesOnlyDeadGrants) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Target(), Tao(13), MonoNowNs() + 30'000'000).ok());
  ASSERT_TRUE(gate_->InstallGrant(IdOf(b_.path()), Target(), Tao(14), MonoNowNs() + kTenSeconds).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  auto swept = gate_->SweepExpiredGrants();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);
  EXPECT_EQ(*gate_->GrantCount(), 1u);
}

}  // namespace
}  // namespace taogate::bpf::testing
