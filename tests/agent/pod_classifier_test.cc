// PodClassifier and CgroupTreeWatch over a fake kernel map: which pod cgroups
// are governed, from API facts and the bundle's selectors only, failing
// closed whenever something is not known. No root: the watch test uses a
// temporary directory shaped like a kubepods tree (inotify sees mkdir there
// as it does on cgroupfs).
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "redeem_fakes.h"
#include "workload_map_fake.h"
#include "taogate/agent/cgroup_watch.h"
#include "taogate/agent/pod_classifier.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

using V = WorkloadVerdict;
using fakes::MemoryEvidence;
using namespace fakes;  // NOLINT: the fake map, uids, pod and namespace makers

class PodClassifierTest : public ::testing::Test {
 protected:
  PodClassifierTest()
      : classifier_(*k8s::KubepodsRoot::Parse("/kubepods.slice"),
                    BurstablePod(kUidSelf) + "/cri-containerd-" + std::string(64, 'a') + ".scope", kernel_,
                    evidence_) {}

  // Everything known: selectors, both lists synced, namespace "agents"
  // (governed) and "web" (not).
  void KnowEverything() {
    classifier_.SetSelectors(AgentSelectors());
    classifier_.OnNamespaceAdded(MakeNs("agents", {{"governed", "true"}}));
    classifier_.OnNamespaceAdded(MakeNs("web", {}));
    classifier_.OnSynced(k8s::Resource::kNamespaces);
    classifier_.OnSynced(k8s::Resource::kPods);
  }
  size_t Records(std::string_view event) {
    return evidence_.Find(Evidence::Kind::kWorkload, "event", event).size();
  }

  FakeWorkloadMap kernel_;
  MemoryEvidence evidence_;
  PodClassifier classifier_;
};

TEST_F(PodClassifierTest, PodCgroupNobodyKnowsIsGoverned) {
  ASSERT_TRUE(classifier_.Start({}).ok());
  classifier_.CgroupAppeared({BurstablePod(kUidA), 101});
  EXPECT_EQ(kernel_.At(101), V::kGoverned);
}

TEST_F(PodClassifierTest, QosCgroupsAreNestedNotWorkloads) {
  ASSERT_TRUE(classifier_.Start({{"/kubepods.slice/kubepods-burstable.slice", 10},
                                 {"/kubepods.slice/kubepods-besteffort.slice", 11}})
                  .ok());
  EXPECT_EQ(kernel_.At(10), V::kNested);
  EXPECT_EQ(kernel_.At(11), V::kNested);
  EXPECT_EQ(Records("start"), 0u);  // QoS cgroups are not evidence
}

TEST_F(PodClassifierTest, UngovernedOnlyOnceSelectorsAndBothListsAreKnown) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}}).ok());
  classifier_.OnPodAdded(MakePod(kUidA, "web", {}));
  classifier_.OnNamespaceAdded(MakeNs("web", {}));
  classifier_.OnSynced(k8s::Resource::kPods);
  classifier_.OnSynced(k8s::Resource::kNamespaces);
  EXPECT_EQ(kernel_.At(101), V::kGoverned) << "no bundle yet: nothing may open";
  classifier_.SetSelectors(AgentSelectors());
  EXPECT_EQ(kernel_.At(101), V::kUngoverned);
}

TEST_F(PodClassifierTest, SelectorMatchIsGovernedAndRelabelInTheApiFlipsIt) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}}).ok());
  KnowEverything();
  classifier_.OnPodAdded(MakePod(kUidA, "agents", {{"role", "ai-agent"}}));
  EXPECT_EQ(kernel_.At(101), V::kGoverned);
  // The API server now says the pod is not an agent (e.g. it patched its own
  // labels): the verdict follows the API, and it is evidence.
  classifier_.OnPodUpdated(MakePod(kUidA, "agents", {{"role", "ai-agent"}}), MakePod(kUidA, "agents", {}));
  EXPECT_EQ(kernel_.At(101), V::kUngoverned);
  EXPECT_EQ(Records("pod"), 1u);  // governed already (unknown at start): only the flip is news
}

TEST_F(PodClassifierTest, NamespaceLabelChangeReclassifiesItsPods) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}}).ok());
  KnowEverything();
  classifier_.OnPodAdded(MakePod(kUidA, "web", {{"role", "ai-agent"}}));
  EXPECT_EQ(kernel_.At(101), V::kUngoverned);
  classifier_.OnNamespaceUpdated(MakeNs("web", {}), MakeNs("web", {{"governed", "true"}}));
  EXPECT_EQ(kernel_.At(101), V::kGoverned);
}

TEST_F(PodClassifierTest, PodInUnknownNamespaceIsGoverned) {
  ASSERT_TRUE(classifier_.Start({{GuaranteedPod(kUidA), 101}}).ok());
  KnowEverything();
  classifier_.OnPodAdded(MakePod(kUidA, "nowhere", {}));
  EXPECT_EQ(kernel_.At(101), V::kGoverned);
}

TEST_F(PodClassifierTest, PodDeletedForgetsItsStateAndACgroupLeftBehindIsGoverned) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}}).ok());
  KnowEverything();
  classifier_.OnPodAdded(MakePod(kUidA, "web", {}));
  ASSERT_EQ(kernel_.At(101), V::kUngoverned);
  kernel_.grants[101] = 1;
  classifier_.OnPodDeleted(MakePod(kUidA, "web", {}));
  EXPECT_EQ(kernel_.forgotten, std::vector<uint64_t>{101});
  EXPECT_EQ(kernel_.grants.count(101), 0u);
  EXPECT_EQ(kernel_.At(101), V::kGoverned);
  auto rec = evidence_.Find(Evidence::Kind::kWorkload, "event", "pod_deleted");
  ASSERT_FALSE(rec.empty());
  EXPECT_EQ(MemoryEvidence::FieldOf(rec[0], "pod_uid"), kUidA);
  EXPECT_EQ(MemoryEvidence::FieldOf(rec[0], "count"), "2");
  EXPECT_EQ(rec.size(), 1u) << "one pod_deleted record; the re-governed cgroup is cgroup_remains";
  EXPECT_FALSE(evidence_.Find(Evidence::Kind::kWorkload, "event", "cgroup_remains").empty());
  classifier_.CgroupGone(BurstablePod(kUidA));
  EXPECT_FALSE(kernel_.At(101).has_value());
}

TEST_F(PodClassifierTest, RestartKeepsLivePinnedVerdictsAndForgetsStaleOnes) {
  kernel_.entries = {{101, V::kUngoverned}, {102, V::kGoverned}, {999, V::kGoverned}};
  kernel_.grants[999] = 1;
  int writes_before = kernel_.writes;
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}, {BurstablePod(kUidB), 102}}).ok());
  // No gap: nothing was rewritten before the API and the bundle are known.
  EXPECT_EQ(kernel_.writes, writes_before);
  EXPECT_EQ(kernel_.At(101), V::kUngoverned);
  EXPECT_FALSE(kernel_.At(999).has_value());
  EXPECT_EQ(kernel_.grants.count(999), 0u);
  EXPECT_EQ(Records("stale"), 1u);
  // Then the API says A became an agent and B is gone.
  classifier_.OnPodAdded(MakePod(kUidA, "agents", {{"role", "ai-agent"}}));
  KnowEverything();
  EXPECT_EQ(kernel_.At(101), V::kGoverned);
  EXPECT_EQ(kernel_.At(102), V::kGoverned);
}

TEST_F(PodClassifierTest, NameKubeletDoesNotMakeIsGovernedEvenIfPinnedOpen) {
  kernel_.entries = {{105, V::kUngoverned}};
  ASSERT_TRUE(classifier_.Start({{"/kubepods.slice/not-a-pod", 105}}).ok());
  EXPECT_EQ(kernel_.At(105), V::kGoverned);
}

TEST_F(PodClassifierTest, ContainerCgroupsAreNotWorkloadsOfTheirOwn) {
  ASSERT_TRUE(classifier_.Start({}).ok());
  classifier_.CgroupAppeared({GuaranteedPod(kUidA) + "/pod" + std::string(kUidB), 120});
  EXPECT_FALSE(kernel_.At(120).has_value()) << "a name below the pod never makes another pod";
}

TEST_F(PodClassifierTest, AgentsOwnPodIsUngovernedAtOnce) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidSelf), 130}}).ok());
  EXPECT_EQ(kernel_.At(130), V::kUngoverned);
}

TEST_F(PodClassifierTest, KernelWriteFailureKeepsTheOldEntryAndIsRetried) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}}).ok());
  KnowEverything();
  kernel_.fail = true;
  classifier_.OnPodAdded(MakePod(kUidA, "web", {}));
  EXPECT_EQ(kernel_.At(101), V::kGoverned);
  EXPECT_EQ(classifier_.counts().kernel_errors_total, 1u);
  kernel_.fail = false;
  classifier_.OnPodUpdated(MakePod(kUidA, "web", {}), MakePod(kUidA, "web", {}));
  EXPECT_EQ(kernel_.At(101), V::kUngoverned);
}

TEST_F(PodClassifierTest, PolicyChangeReclassifiesEveryPod) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}}).ok());
  KnowEverything();
  classifier_.OnPodAdded(MakePod(kUidA, "agents", {{"role", "ai-agent"}}));
  ASSERT_EQ(kernel_.At(101), V::kGoverned);
  classifier_.SetSelectors({});
  EXPECT_EQ(kernel_.At(101), V::kUngoverned);
  EXPECT_EQ(Records("policy"), 1u);
}

TEST_F(PodClassifierTest, RetainForgetsCgroupsARescanNoLongerFinds) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}, {BurstablePod(kUidB), 102}}).ok());
  classifier_.Retain({{BurstablePod(kUidA), 101}});
  EXPECT_TRUE(kernel_.At(101).has_value());
  EXPECT_FALSE(kernel_.At(102).has_value());
}

TEST_F(PodClassifierTest, NamespaceScopeQuarantinesPodsNowAndLaterUntilReleased) {
  ASSERT_TRUE(classifier_.Start({{BurstablePod(kUidA), 101}}).ok());
  KnowEverything();
  classifier_.OnPodAdded(MakePod(kUidA, "agents", {{"role", "ai-agent"}}));
  auto n = classifier_.EngageScope(*ParsePodScope("namespace:agents"), /*kill=*/false);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(kernel_.quarantined.count(101), 1u);
  classifier_.OnPodAdded(MakePod(kUidB, "agents", {}));
  classifier_.CgroupAppeared({BurstablePod(kUidB), 102});
  EXPECT_EQ(kernel_.quarantined.count(102), 1u) << "a pod that comes later is caught";
  // A second, narrower scope keeps pod A quarantined when the first goes.
  ASSERT_TRUE(classifier_.EngageScope(*ParsePodScope("selector:role=ai-agent"), true).ok());
  auto lifted = classifier_.ReleaseScope("namespace:agents");
  ASSERT_TRUE(lifted.ok());
  EXPECT_EQ(*lifted, 1u);
  EXPECT_EQ(kernel_.quarantined.count(101), 1u);
  EXPECT_EQ(kernel_.quarantined.count(102), 0u);
  EXPECT_TRUE(absl::IsNotFound(classifier_.ReleaseScope("namespace:agents").status()));
}

TEST(PodScopeTest, ParsesTheThreeFormsAndRefusesTheRest) {
  auto pod = ParsePodScope("pod:agents/reporter-0");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->namespace_name, "agents");
  EXPECT_EQ(pod->pod_name, "reporter-0");
  auto sel = ParsePodScope("selector:team=finance,tier!=dev,canary,!debug");
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_TRUE(sel->labels->Matches({{"team", "finance"}, {"canary", ""}}));
  EXPECT_FALSE(sel->labels->Matches({{"team", "finance"}, {"canary", ""}, {"debug", "1"}}));
  EXPECT_FALSE(sel->labels->Matches({{"team", "finance"}, {"canary", ""}, {"tier", "dev"}}));
  for (const char* bad : {"pod:agents", "pod:Agents/x", "namespace:", "namespace:a b", "selector:",
                          "selector:a=1,,b=2", "selector:a=1,a=2", "selector:-bad=1", "cgroup:12"})
    EXPECT_FALSE(ParsePodScope(bad).ok()) << bad;
  EXPECT_TRUE(IsPodScope("namespace:x"));
  EXPECT_FALSE(IsPodScope("w1"));
}

TEST(CgroupTreeWatchTest, MkdirOfAPodCgroupReachesTheKernelMap) {
  taogate::testing::TempDir dir;
  std::string mount = dir.path().string();
  std::filesystem::create_directories(mount + "/kubepods.slice/kubepods-burstable.slice");
  FakeWorkloadMap kernel;
  MemoryEvidence evidence;
  PodClassifier classifier(*k8s::KubepodsRoot::Parse("/kubepods.slice"), "/", kernel, evidence);
  auto tree = ScanPodLevels(mount, "/kubepods.slice");
  ASSERT_TRUE(tree.ok()) << tree.status();
  ASSERT_TRUE(classifier.Start(*tree).ok());
  auto watch = CgroupTreeWatch::Open(mount, "/kubepods.slice", classifier, 60'000);
  ASSERT_TRUE(watch.ok()) << watch.status();
  (*watch)->Start();
  std::string pod = mount + BurstablePod(kUidA);
  ASSERT_EQ(mkdir(pod.c_str(), 0755), 0);
  struct stat st {};
  ASSERT_EQ(stat(pod.c_str(), &st), 0);
  for (int i = 0; i < 5000 && !kernel.At(st.st_ino); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(kernel.At(st.st_ino), V::kGoverned);
  ASSERT_EQ(rmdir(pod.c_str()), 0);
  for (int i = 0; i < 5000 && kernel.At(st.st_ino); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_FALSE(kernel.At(st.st_ino).has_value());
  // A QoS cgroup created after the start is watched too, and a pod created
  // in it at once (before the watch can be in place) is found without
  // waiting for the rescan (60 s here).
  std::string qos = mount + "/kubepods.slice/kubepods-besteffort.slice";
  ASSERT_EQ(mkdir(qos.c_str(), 0755), 0);
  std::string pod2 = qos + "/kubepods-besteffort-pod" + Underscored(kUidB) + ".slice";
  ASSERT_EQ(mkdir(pod2.c_str(), 0755), 0);
  ASSERT_EQ(stat(pod2.c_str(), &st), 0);
  for (int i = 0; i < 5000 && !kernel.At(st.st_ino); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(kernel.At(st.st_ino), V::kGoverned);
  (*watch)->Stop();
  EXPECT_GE((*watch)->stats().created, 2u);  // pod2 may have had no event of its own
}

}  // namespace
}  // namespace taogate::agent
