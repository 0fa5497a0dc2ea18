// Node targets against a real agent and the real kernel gate, inside a
// network namespace the test creates (lo up, a veth pair with 10.99.7.1/24
// on one end). A service listens on 0.0.0.0:P, so it answers on every
// address of the namespace: protecting tcp:127.0.0.1:P alone leaves it open
// through 10.99.7.1:P. tcp:node:P must close every address, including one
// added while the agent runs, and a TAO for the interface address must
// still open it exactly once.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

constexpr char kIfAddr[] = "10.99.7.1";
constexpr char kNewAddr[] = "10.99.8.1";

int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

class NodeTargetKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "kernel tests need root";
    if (Sh("ip -V") != 0) GTEST_SKIP() << "no ip(8)";
    // Only this thread (and what it forks: the agent, the workloads) moves.
    home_ns_.Reset(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(home_ns_.valid());
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
    in_ns_ = true;
    ASSERT_EQ(Sh(StrCat("ip link set lo up && ip link add tgnode0 type veth peer name tgnode1 && ip addr add ",
                        kIfAddr, "/24 dev tgnode0 && ip link set tgnode0 up && ip link set tgnode1 up")),
              0);
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    wildcard_.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;  // 0.0.0.0:0
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(wildcard_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(wildcard_.get(), 128), 0);  // the kernel completes handshakes; no accept needed
    ASSERT_EQ(getsockname(wildcard_.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    w1_ = MakeWorkload("w1");
  }
  void TearDown() override {
    AgentTest::TearDown();
    wildcard_.Reset();
    if (in_ns_) {
      EXPECT_EQ(setns(home_ns_.get(), CLONE_NEWNET), 0);  // the namespace dies with its last user
    }
  }

  std::string Connect(const std::string& addr) {
    return RunIn("w1", {"connect", addr, std::to_string(port_)}).out;
  }
  // The watcher applies address changes asynchronously: polls up to 5 s.
  bool EventuallyConnect(const std::string& addr, const std::string& want) {
    for (int i = 0; i < 100; ++i) {
      if (Connect(addr) == want) return true;
      usleep(50'000);
    }
    return false;
  }
  std::string RedeemConnect(const std::string& addr) {
    v1::TaoBody b = Body(w1_, port_);
    b.mutable_target()->set_address(addr);
    return RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Sign(b)), addr, std::to_string(port_)}).out;
  }

  UniqueFd home_ns_, wildcard_;
  bool in_ns_ = false;
  int port_ = 0;
  uint64_t w1_ = 0;
};

TEST_F(NodeTargetKernelTest, LoopbackAndInterfaceAddressesAreRefusedWithoutGrant) {
  extra_targets_ = {StrCat("tcp:node:", port_)};
  StartAgent();
  EXPECT_EQ(Connect("127.0.0.1"), "CONNECT ERR EPERM\n");
  EXPECT_EQ(Connect("127.0.0.2"), "CONNECT ERR EPERM\n");
  EXPECT_EQ(Connect(kIfAddr), "CONNECT ERR EPERM\n");
}

TEST_F(NodeTargetKernelTest, AddressAddedLaterIsRefusedToo) {
  extra_targets_ = {StrCat("tcp:node:", port_)};
  StartAgent();
  ASSERT_EQ(Sh(StrCat("ip addr add ", kNewAddr, "/24 dev tgnode0")), 0);
  EXPECT_TRUE(EventuallyConnect(kNewAddr, "CONNECT ERR EPERM\n"));
  EXPECT_TRUE(WaitFor(RecordKind::kPolicyActivated, "event", "node_addresses"));
  EXPECT_EQ(Connect(kIfAddr), "CONNECT ERR EPERM\n");
}

TEST_F(NodeTargetKernelTest, GrantForTheInterfaceAddressOpensItOnce) {
  extra_targets_ = {StrCat("tcp:node:", port_)};
  StartAgent();
  std::string out = RedeemConnect(kIfAddr);
  EXPECT_NE(out.find("REDEEM OK"), std::string::npos) << out;
  EXPECT_NE(out.find("CONNECT OK"), std::string::npos) << out;
  EXPECT_EQ(Connect(kIfAddr), "CONNECT ERR EPERM\n");
}

TEST_F(NodeTargetKernelTest, RemovedAddressLeavesOtherTargetsProtected) {
  // The gate runs before routing: EPERM = still in the maps, ENETUNREACH =
  // gone from them (and from the node). 10.99.8.1 is also a target of its
  // own, so removing the address must not take that entry out with the
  // node target's; 10.99.9.1 was the node target's only.
  extra_targets_ = {StrCat("tcp:node:", port_), StrCat("tcp:", kNewAddr, ":", port_)};
  ASSERT_EQ(Sh(StrCat("ip addr add ", kNewAddr, "/24 dev tgnode0 && ip addr add 10.99.9.1/24 dev tgnode0")), 0);
  StartAgent();
  EXPECT_EQ(Connect("10.99.9.1"), "CONNECT ERR EPERM\n");
  ASSERT_EQ(Sh(StrCat("ip addr del ", kNewAddr, "/24 dev tgnode0 && ip addr del 10.99.9.1/24 dev tgnode0")), 0);
  EXPECT_TRUE(EventuallyConnect("10.99.9.1", "CONNECT ERR ENETUNREACH\n"));
  EXPECT_EQ(Connect(kNewAddr), "CONNECT ERR EPERM\n");
}

TEST_F(NodeTargetKernelTest, StatusWarnsAboutLoopbackTargetOnWildcardPort) {
  extra_targets_ = {StrCat("tcp:127.0.0.1:", port_)};
  StartAgent();
  auto st = Operator()->Status();
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->warnings_size(), 1);
  EXPECT_NE(st->warnings(0).find(StrCat("tcp:node:", port_)), std::string::npos) << st->warnings(0);
  // The hazard it names: the same service through the interface address.
  EXPECT_EQ(Connect(kIfAddr), "CONNECT OK\n");
}

}  // namespace
}  // namespace taogate::agent::testing
