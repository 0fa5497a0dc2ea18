// Pods mode as attacks against a real agent process: the real kernel gate
// attached at a test-made kubepods root (systemd layout), pod cgroups made
// the way kubelet names them, processes started in their container cgroups,
// and a real TLS API server process (tests/k8s/test_apiserver.py) serving the
// pods and namespaces the agent lists and watches through a kubeconfig.
// Governed: pods labelled role=ai-agent in namespaces labelled governed=true.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/pods_testing.h"
#include "taogate/common/hex.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

TEST_F(PodsKernelTest, OneTaoOpensTheTargetForTheGovernedPodOnly) {
  AddPod(Uid(1), "agents", {{"role", "ai-agent"}});
  AddPod(Uid(2), "web", {{"role", "ai-agent"}});  // same labels, namespace not governed
  AddPod(Uid(3), "agents", {{"role", "ai-agent"}});
  Start();
  std::string agent = MakePodCgroup(Uid(1)), web = MakePodCgroup(Uid(2)), other = MakePodCgroup(Uid(3));
  EXPECT_TRUE(EventuallyConnect(web, "CONNECT OK")) << "an ungoverned pod is not governed";
  EXPECT_TRUE(Connect(agent).find("CONNECT ERR EPERM") != std::string::npos);
  std::string r = Redeem(agent, Uid(1));
  EXPECT_NE(r.find("REDEEM OK"), std::string::npos) << r;
  EXPECT_NE(r.find("CONNECT OK"), std::string::npos) << r;
  // One shot, one pod: neither a second connect nor the other governed pod.
  EXPECT_NE(Connect(agent).find("CONNECT ERR EPERM"), std::string::npos);
  EXPECT_NE(Connect(other).find("CONNECT ERR EPERM"), std::string::npos);
  // The TAO bound to pod 1 is refused to pod 3 (binding), and pod 3 stays closed.
  std::string stolen = RunIn(other, {"redeem-connect", workload_sock_,
                                     WriteTao(Mint(pod_ids_[Uid(1)], protected_->port())), "127.0.0.1",
                                     std::to_string(protected_->port())})
                           .out;
  EXPECT_NE(stolen.find("REDEEM ERR"), std::string::npos) << stolen;
  EXPECT_NE(stolen.find("CONNECT ERR EPERM"), std::string::npos) << stolen;
}

TEST_F(PodsKernelTest, ContainersOfOnePodShareItsGrant) {
  AddPod(Uid(1), "agents", {{"role", "ai-agent"}});
  Start();
  std::string c1 = MakePodCgroup(Uid(1), 'a'), c2 = MakePodCgroup(Uid(1), 'b');
  ASSERT_TRUE(RunIn(c1, {"redeem", workload_sock_, WriteTao(Mint(pod_ids_[Uid(1)], protected_->port()))})
                  .Has("REDEEM OK"));
  EXPECT_NE(Connect(c2).find("CONNECT OK"), std::string::npos) << "the sidecar used the pod's grant";
  EXPECT_NE(Connect(c1).find("CONNECT ERR EPERM"), std::string::npos) << "and it was one shot";
}

TEST_F(PodsKernelTest, ContainerStartedBeforeTheApiKnowsItsPodIsDeniedUntilClassified) {
  Start();
  std::string web = MakePodCgroup(Uid(4));
  EXPECT_NE(Connect(web).find("CONNECT ERR EPERM"), std::string::npos) << "unknown pod: fail closed";
  AddPod(Uid(4), "web", {});
  EXPECT_TRUE(EventuallyConnect(web, "CONNECT OK"));
}

TEST_F(PodsKernelTest, PodThatRelabelsItselfFollowsTheApiOnly) {
  AddPod(Uid(5), "web", {{"role", "batch"}});
  Start();
  std::string c = MakePodCgroup(Uid(5));
  ASSERT_TRUE(EventuallyConnect(c, "CONNECT OK"));
  // The API server now says it is an agent (its labels were patched): governed at once.
  AddNamespace("web", {{"governed", "true"}});
  AddPod(Uid(5), "web", {{"role", "ai-agent"}});
  EXPECT_TRUE(EventuallyConnect(c, "CONNECT ERR EPERM"));
  EXPECT_FALSE(Find(RecordKind::kWorkload, "pod_uid", Uid(5)).empty());
}

TEST_F(PodsKernelTest, DeletedPodLosesItsGrantAndItsEntry) {
  AddPod(Uid(6), "agents", {{"role", "ai-agent"}});
  Start();
  std::string c = MakePodCgroup(Uid(6));
  ASSERT_TRUE(RunIn(c, {"redeem", workload_sock_, WriteTao(Mint(pod_ids_[Uid(6)], protected_->port()))})
                  .Has("REDEEM OK"));
  api_->Delete(Uid(6));
  ASSERT_TRUE(WaitFor(RecordKind::kWorkload, "event", "pod_deleted", 10'000));
  auto rec = Find(RecordKind::kWorkload, "event", "pod_deleted");
  EXPECT_EQ(rec[0].Field("pod_uid"), std::optional<std::string_view>(Uid(6)));
  EXPECT_NE(Connect(c).find("CONNECT ERR EPERM"), std::string::npos) << "the grant went with the pod";
}

TEST_F(PodsKernelTest, AgentRestartKeepsLiveVerdictsAndDropsGonePods) {
  AddPod(Uid(7), "web", {});
  AddPod(Uid(8), "web", {});
  Start();
  std::string keep = MakePodCgroup(Uid(7)), gone = MakePodCgroup(Uid(8));
  ASSERT_TRUE(EventuallyConnect(keep, "CONNECT OK"));
  ASSERT_TRUE(EventuallyConnect(gone, "CONNECT OK"));
  KillAgent();
  // While no agent runs: the pinned verdicts hold, pod 8 goes, pod 9 comes.
  EXPECT_NE(Connect(keep).find("CONNECT OK"), std::string::npos) << "no gap while the agent is down";
  api_->Delete(Uid(8));
  (void)bpf::DestroyCgroupTree(WorkloadPath(
      "kubepods-burstable.slice/kubepods-burstable-pod" + Underscored(Uid(8)) + ".slice"));
  AddPod(Uid(9), "web", {});
  std::string fresh = MakePodCgroup(Uid(9));
  EXPECT_NE(Connect(fresh).find("CONNECT ERR EPERM"), std::string::npos) << "new pod, no agent: closed";
  Start();
  EXPECT_TRUE(WaitFor(RecordKind::kWorkload, "event", "stale", 10'000));
  EXPECT_TRUE(EventuallyConnect(fresh, "CONNECT OK"));
  EXPECT_NE(Connect(keep).find("CONNECT OK"), std::string::npos);
}

TEST_F(PodsKernelTest, ApiServerGoneKeepsLastStateAndNewPodsFailClosed) {
  AddPod(Uid(10), "web", {});
  Start();
  std::string known = MakePodCgroup(Uid(10));
  ASSERT_TRUE(EventuallyConnect(known, "CONNECT OK"));
  api_.reset();  // the API server process ends
  std::string unknown = MakePodCgroup(Uid(11));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_NE(Connect(unknown).find("CONNECT ERR EPERM"), std::string::npos);
  EXPECT_NE(Connect(known).find("CONNECT OK"), std::string::npos);
}

}  // namespace
}  // namespace taogate::agent::testing

namespace taogate::agent::testing {
namespace {

v1::KillSwitchRequest Scope(const std::string& workload, bool engage) {
  v1::KillSwitchRequest req;
  req.set_action(engage ? v1::KILL_SWITCH_ENGAGE : v1::KILL_SWITCH_RELEASE);
  req.set_workload(workload);
  req.set_mode(v1::KILL_SWITCH_MODE_DENY);
  req.set_reason("pods kill switch test");
  return req;
}

TEST_F(PodsKernelTest, NamespaceKillSwitchCatchesPodsThatComeLaterAndSurvivesARestart) {
  AddPod(Uid(20), "agents", {{"role", "ai-agent"}});
  Start();
  std::string early = MakePodCgroup(Uid(20));
  ASSERT_TRUE(RunIn(early, {"redeem", workload_sock_, WriteTao(Mint(pod_ids_[Uid(20)], protected_->port()))})
                  .Has("REDEEM OK"));
  // Engaging again is idempotent: retry until the agent has heard of the pod.
  absl::StatusOr<v1::KillSwitchResponse> engaged;
  ASSERT_TRUE(kt::Eventually([&] {
    engaged = Operator()->KillSwitch(Scope("namespace:agents", true));
    return engaged.ok() && engaged->affected_cgroups() == 1u;
  })) << engaged.status();
  EXPECT_NE(Connect(early).find("CONNECT ERR EPERM"), std::string::npos) << "quarantine beats the grant";
  // After a restart, a new pod in the namespace is caught by the scope too.
  KillAgent();
  Start();
  AddPod(Uid(21), "agents", {{"role", "ai-agent"}});
  std::string late = MakePodCgroup(Uid(21));
  // Wait until the agent has heard of both (quarantine map: early + late).
  ASSERT_TRUE(kt::Eventually([&] {
    auto st = Operator()->Status();
    return st.ok() && st->quarantined_workloads() == 2;
  }));
  ASSERT_TRUE(RunIn(late, {"redeem", workload_sock_, WriteTao(Mint(pod_ids_[Uid(21)], protected_->port()))})
                  .Has("REDEEM ERR"))
      << "quarantined: not even the agent socket is reachable";
  auto released = Operator()->KillSwitch(Scope("namespace:agents", false));
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(released->affected_cgroups(), 2u);
  EXPECT_TRUE(RunIn(late, {"redeem-connect", workload_sock_, WriteTao(Mint(pod_ids_[Uid(21)], protected_->port())),
                           "127.0.0.1", std::to_string(protected_->port())})
                  .Has("CONNECT OK"));
}

TEST_F(PodsKernelTest, SelectorKillSwitchHitsOnlyMatchingPodsAndBadScopesAreRefused) {
  AddPod(Uid(22), "agents", {{"role", "ai-agent"}, {"team", "finance"}});
  AddPod(Uid(23), "agents", {{"role", "ai-agent"}, {"team", "ops"}});
  Start();
  std::string fin = MakePodCgroup(Uid(22)), ops = MakePodCgroup(Uid(23));
  absl::StatusOr<v1::KillSwitchResponse> r;
  ASSERT_TRUE(kt::Eventually([&] {
    r = Operator()->KillSwitch(Scope("selector:team=finance", true));
    return r.ok() && r->affected_cgroups() == 1u;
  })) << r.status();
  EXPECT_TRUE(RunIn(fin, {"redeem", workload_sock_, WriteTao(Mint(pod_ids_[Uid(22)], protected_->port()))})
                  .Has("REDEEM ERR"));
  EXPECT_TRUE(RunIn(ops, {"redeem", workload_sock_, WriteTao(Mint(pod_ids_[Uid(23)], protected_->port()))})
                  .Has("REDEEM OK"));
  EXPECT_FALSE(Operator()->KillSwitch(Scope("selector:team=", true)).ok() &&
               Operator()->KillSwitch(Scope("pod:Agents/x", true)).ok());
  EXPECT_FALSE(Operator()->KillSwitch(Scope("namespace:nobody", false)).ok()) << "not engaged";
  EXPECT_FALSE(Find(RecordKind::kKillSwitch, "scope", "selector:team=finance").empty());
}

}  // namespace
}  // namespace taogate::agent::testing
