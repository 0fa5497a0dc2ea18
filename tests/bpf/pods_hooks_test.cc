// Pods mode reaches every hook, not just connect4: unix sockets, raw
// sockets, the packet drop of a quarantine, kill on syscall, kill on open
// and on fd-table-sharing clone all leave ungoverned pods alone and act on
// governed and unclassified ones.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "bpf/pods_testing.h"
#include "taogate/bpflsm/lsm_keys.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr int kKilled = 128 + SIGKILL;
constexpr Shape kBurstable{Driver::kSystemd, Qos::kBurstable};
constexpr Shape kGuaranteed{Driver::kCgroupfs, Qos::kGuaranteed};

class PodsHooksTest : public PodsTest {
 protected:
  void SetUp() override {
    PodsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    gov_ = MakePod(kBurstable);
    ungov_ = MakePod(kGuaranteed);
    unknown_ = MakePod(kBurstable);
    Mark(gov_.cgroup, WorkloadKind::kGoverned);
    Mark(ungov_.cgroup, WorkloadKind::kUngoverned);
  }
  const std::string& Gov() const { return gov_.containers[0]; }
  const std::string& Ungov() const { return ungov_.containers[0]; }
  const std::string& Unknown() const { return unknown_.containers[0]; }
  Pod gov_, ungov_, unknown_;
};

int RawSocket() {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

int Spin() {
  for (;;) {
    (void)getppid();
    usleep(1000);
  }
  return 0;
}

TEST_F(PodsHooksTest, UnixTargetFollowsThePodRule) {
  std::string path = (tmp_.path() / "db.sock").string();
  Listener l = ListenUnix(path);
  Protect("unix:" + path);
  EXPECT_EQ(RunIn(Gov(), [&] { return TryConnectUnix(path); }), EPERM);
  EXPECT_EQ(RunIn(Unknown(), [&] { return TryConnectUnix(path); }), EPERM);
  EXPECT_EQ(RunIn(Ungov(), [&] { return TryConnectUnix(path); }), 0);
  ASSERT_TRUE(gate_->QuarantineAll(QuarantineMode::kNetwork).ok());
  EXPECT_EQ(RunIn(Ungov(), [&] { return TryConnectUnix(path); }), 0);
}

TEST_F(PodsHooksTest, RawSocketsOnlyForUngovernedPods) {
  EXPECT_EQ(RunIn(Gov(), RawSocket), EPERM);
  EXPECT_EQ(RunIn(Unknown(), RawSocket), EPERM);
  uint64_t raw = Counter("deny_raw");
  EXPECT_EQ(RunIn(Ungov(), RawSocket), 0);
  EXPECT_EQ(Counter("deny_raw"), raw);
}

TEST_F(PodsHooksTest, KillSwitchKillsGovernedAndUnclassifiedNeverUngoverned) {
  Child gov(Gov(), Spin), unknown(Unknown(), Spin), ungov(Ungov(), Spin);
  ASSERT_FALSE(gov.Wait(50).has_value());
  ASSERT_TRUE(gate_->QuarantineAll(QuarantineMode::kKill).ok());
  EXPECT_EQ(gov.Wait(5000), kKilled);
  EXPECT_EQ(unknown.Wait(5000), kKilled);
  EXPECT_FALSE(ungov.Wait(300).has_value());
  ASSERT_TRUE(gate_->ReleaseAll().ok());
}

TEST_F(PodsHooksTest, PodKillQuarantineKillsEveryContainerOfThatPodOnly) {
  Pod two = MakePod(kBurstable, 2);
  Mark(two.cgroup, WorkloadKind::kGoverned);
  Child c0(two.containers[0], Spin), c1(two.containers[1], Spin), other(Gov(), Spin);
  ASSERT_FALSE(c0.Wait(50).has_value());
  ASSERT_TRUE(gate_->Quarantine(IdOf(two.cgroup), QuarantineMode::kKill).ok());
  EXPECT_EQ(c0.Wait(5000), kKilled);
  EXPECT_EQ(c1.Wait(5000), kKilled);
  EXPECT_FALSE(other.Wait(300).has_value());
}

// A child in `cgroup` connected to l, sending one byte per byte read
// from ctl; *conn is the accepted end.
void Talk(const Listener& l, const std::string& cgroup, int ctl, std::unique_ptr<Child>* child,
          UniqueFd* conn) {
  uint16_t port = l.port;
  *child = std::make_unique<Child>(cgroup, Talker(port, ctl));
  *conn = UniqueFd(accept(l.fd.get(), nullptr, nullptr));
}

// Established flows: cgroup_skb resolves the socket's pod like the other
// hooks. Under the kill switch only the ungoverned pod's bytes arrive; a
// per-pod quarantine of a Burstable pod (two levels down) stops its flow.
TEST_F(PodsHooksTest, EstablishedFlowsAreDroppedPerPod) {
  int cg[2], cu[2];
  ASSERT_EQ(pipe(cg), 0);
  ASSERT_EQ(pipe(cu), 0);
  std::unique_ptr<Child> gov, ungov;
  UniqueFd conn_gov, conn_ungov;
  Talk(open_, Gov(), cg[0], &gov, &conn_gov);
  Talk(open_, Ungov(), cu[0], &ungov, &conn_ungov);
  ASSERT_TRUE(conn_gov && conn_ungov);
  ASSERT_TRUE(gate_->QuarantineAll(QuarantineMode::kNetwork).ok());
  ASSERT_EQ(write(cg[1], "1", 1), 1);
  ASSERT_EQ(write(cu[1], "2", 1), 1);
  EXPECT_TRUE(Receives(conn_ungov.get(), 2000)) << "ungoverned pod's flow was dropped";
  EXPECT_FALSE(Receives(conn_gov.get(), 1000)) << "governed pod's flow still passes";
  ASSERT_TRUE(gate_->ReleaseAll().ok());
  EXPECT_TRUE(Receives(conn_gov.get(), 5000));  // retransmitted

  ASSERT_TRUE(gate_->Quarantine(IdOf(gov_.cgroup), QuarantineMode::kNetwork).ok());
  ASSERT_EQ(write(cg[1], "3", 1), 1);
  EXPECT_FALSE(Receives(conn_gov.get(), 1000)) << "quarantined pod's flow still passes";
  ASSERT_TRUE(gate_->Release(IdOf(gov_.cgroup)).ok());
  for (int fd : {cg[0], cg[1], cu[0], cu[1]}) close(fd);
}

TEST_F(PodsHooksTest, ProtectedFileKillsGovernedAndUnclassifiedPodsOnly) {
  std::string f = (tmp_.path() / "secret").string();
  taogate::testing::WriteFile(f, "secret\n");
  auto k = bpflsm::MakeInodeKey(f);
  ASSERT_TRUE(k.ok()) << k.status();
  absl::Status s = gate_->ProtectInode(k->dev, k->ino, TG_DENY_READ, false);
  if (!s.ok()) GTEST_SKIP() << "file hooks unavailable: " << s;
  auto open_it = [&] {
    int fd = open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    close(fd);
    return 0;
  };
  EXPECT_EQ(RunIn(Gov(), open_it), kKilled);
  EXPECT_EQ(RunIn(Unknown(), open_it), kKilled);
  EXPECT_EQ(RunIn(Ungov(), open_it), 0);
  // clone(CLONE_FILES) is killed for governed pods only.
  auto clone_files = [] {
    long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid < 0) return errno;
    if (pid == 0) _exit(0);
    int ws = 0;
    while (waitpid(static_cast<pid_t>(pid), &ws, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 100;
  };
  EXPECT_EQ(RunIn(Gov(), clone_files), kKilled);
  EXPECT_EQ(RunIn(Ungov(), clone_files), 0);
  ASSERT_TRUE(gate_->UnprotectInode(k->dev, k->ino).ok());
}

}  // namespace
}  // namespace taogate::bpf::testing
