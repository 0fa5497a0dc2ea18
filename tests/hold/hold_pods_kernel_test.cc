// Hold mode in pods mode, every part real (root): the agent in pods mode
// (a real TLS API server process, pod cgroups as kubelet names them), a
// real taogate-governor whose bundle governs the pods and holds them, and a
// container started by a real runc in a pod's container cgroup with the
// notify profile (what containerd does with a Localhost seccomp profile).
// The held busybox connects once the agent has acquired for its pod; a pod
// of an ungoverned namespace is not held (and not gated).
#include <gtest/gtest.h>

#include "agent/agent_governor.h"
#include "agent/pods_testing.h"
#include "hold/oci_testing.h"
#include "taogate/common/strings.h"
#include "taogate/hold/filter.h"

namespace taogate::agent::testing {
namespace {

namespace gt = governance::testing;
using ledger::RecordKind;

class HoldPodsKernelTest : public PodsKernelTest {
 protected:
  void SetUp() override {
    PodsKernelTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!hold::HoldSupported()) GTEST_SKIP() << "no seccomp user notification";
    if (access("/usr/sbin/runc", X_OK) != 0) GTEST_SKIP() << "no runc";
    governed_pods_.clear();  // the bundle's, from the governor
    gov_ = std::make_unique<gt::GovernorProcess>();
    taogate::testing::WriteFile(gov_->policy_path(), StrCat(R"(version: 1
name: hold-pods
roles: [{id: tool}]
actors:
  - {identity: spiffe://test.example/ns/agents/sa/default, roles: [tool]}
workloads:
  - {id: agent-pods, selectors: {namespaces: [agents], pod_labels: {role: ai-agent}}}
targets:
  - id: db
    networks: [{cidrs: [127.0.0.1/32], ports: [)", protected_->port(), R"(], protocols: [tcp]}]
action_classes: [{id: connect, ttl: 60s}]
rules:
  - {id: pods-connect, effect: allow, roles: [tool], workloads: [agent-pods], actions: [connect], targets: [db]}
hold:
  - {id: pods-held, workloads: [agent-pods], targets: [db], action: connect}
)", kGovernedPods));
    ASSERT_TRUE(gov_->Start()) << gov_->error();
    auto conn = ConnectToGovernor(*gov_, dir_->path().string(), node_id_);
    ASSERT_TRUE(conn.ok()) << conn.status();
    hold_sock_ = dir_->path().string() + "/hold.sock";
    Start(StrCat(*conn, "hold_socket: ", hold_sock_, "\nhold_max_ms: 20000\n"));
  }
  void TearDown() override {
    if (agent_running()) KillAgent();
    gov_.reset();
    PodsKernelTest::TearDown();
  }
  // busybox nc to the protected port from a runc container in `ctr`.
  taogate::testing::CommandResult NcIn(const std::string& ctr) {
    const std::string sh = StrCat("if /bin/busybox nc -w 5 127.0.0.1 ", protected_->port(),
                                  " </dev/null; then echo CONNECT OK; else echo CONNECT FAILED; fi");
    return hold::testing::RunHeldContainer("/usr/sbin/runc", dir_->path().string(), governed_rel_ + "/" + ctr,
                                           hold_sock_, sh);
  }

  std::string hold_sock_;
  std::unique_ptr<gt::GovernorProcess> gov_;
};

TEST_F(HoldPodsKernelTest, AGovernedPodsContainerIsHeldThenConnectsOnce) {
  AddPod(Uid(1), "agents", {{"role", "ai-agent"}});
  std::string ctr = MakePodCgroup(Uid(1));
  ASSERT_TRUE(EventuallyConnect(ctr, "CONNECT ERR EPERM"));  // classified governed, no grant
  auto r = NcIn(ctr);
  EXPECT_NE(r.out.find("CONNECT OK"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(protected_->accepted(), 1);
  auto holds = Find(RecordKind::kHold);
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_EQ(holds[0].Field("rule"), "pods-held");
  EXPECT_EQ(holds[0].Field("verdict"), "CONTINUE");
  EXPECT_EQ(holds[0].Field("workload"), governed_rel_ + "/" + ctr.substr(0, ctr.rfind('/')));  // the pod
  EXPECT_EQ(Find(RecordKind::kConsumed).size(), 1u);
  // One shot for the pod: its other container (runc removed this one's
  // cgroup on exit) is refused without a hold.
  std::string again = Connect(MakePodCgroup(Uid(1), 'b'));
  EXPECT_NE(again.find("CONNECT ERR EPERM"), std::string::npos) << again;
}

TEST_F(HoldPodsKernelTest, APodOfAnUngovernedNamespaceIsNeitherHeldNorGated) {
  AddPod(Uid(2), "web", {{"role", "ai-agent"}});
  std::string ctr = MakePodCgroup(Uid(2));
  ASSERT_TRUE(EventuallyConnect(ctr, "CONNECT OK"));  // classified ungoverned
  auto r = NcIn(ctr);
  EXPECT_NE(r.out.find("CONNECT OK"), std::string::npos) << r.out << r.err;
  EXPECT_TRUE(Find(RecordKind::kHold).empty());
  EXPECT_TRUE(Find(RecordKind::kConsumed).empty());
}

}  // namespace
}  // namespace taogate::agent::testing
