// Audit mode per workload (docs/audit-mode.md) without root: which workload
// cgroups the bundle's audited workloads cover, in pods mode (PodClassifier
// over API facts) and in governed-root mode (RootAuditSync over a directory
// shaped like the governed root; inotify sees mkdir there as on cgroupfs),
// and what is refused.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "redeem_fakes.h"
#include "taogate/agent/audit_workloads.h"
#include "testing/testing.h"
#include "workload_map_fake.h"

namespace taogate::agent {
namespace {

using namespace fakes;  // NOLINT: the fake map, uids, pod and namespace makers

v1::HoldWorkload Audited(std::string id) {
  v1::HoldWorkload w;
  w.set_id(std::move(id));
  return w;
}

uint64_t Ino(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

bool Eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 500; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

class PodAuditTest : public ::testing::Test {
 protected:
  PodAuditTest() : classifier_(*k8s::KubepodsRoot::Parse("/kubepods.slice"), "/system.slice/agent", kernel_, evidence_) {}
  void SetUp() override {
    ASSERT_TRUE(classifier_.Start({}).ok());
    classifier_.SetSelectors(AgentSelectors());
    classifier_.OnNamespaceAdded(MakeNs("agents", {{"governed", "true"}}));
    classifier_.OnSynced(k8s::Resource::kNamespaces);
    classifier_.OnSynced(k8s::Resource::kPods);
    classifier_.CgroupAppeared({BurstablePod(kUidA), 101});
    classifier_.CgroupAppeared({BurstablePod(kUidB), 102});
    classifier_.OnPodAdded(MakePod(kUidA, "agents", {{"role", "ai-agent"}, {"rollout", "canary"}}));
    classifier_.OnPodAdded(MakePod(kUidB, "agents", {{"role", "ai-agent"}}));
  }
  // Audits pods labelled rollout=canary on node-1.
  static v1::HoldWorkload Canary() {
    v1::HoldWorkload w = Audited("canary");
    w.add_nodes("node-1");
    (*w.mutable_pod_labels())["rollout"] = "canary";
    return w;
  }
  size_t Records(std::string_view event) { return evidence_.Find(Evidence::Kind::kWorkload, "event", event).size(); }

  FakeWorkloadMap kernel_;
  MemoryEvidence evidence_;
  PodClassifier classifier_;
};

TEST_F(PodAuditTest, MatchingGovernedPodIsAuditedOthersEnforced) {
  classifier_.SetAuditWorkloads({Canary()}, "node-1");
  EXPECT_TRUE(kernel_.IsAudited(101));
  EXPECT_FALSE(kernel_.IsAudited(102));
  ASSERT_EQ(classifier_.AuditedWorkloads().size(), 1u);
  EXPECT_EQ(classifier_.AuditedWorkloads()[0].rule, "canary");
  auto on = evidence_.Find(Evidence::Kind::kWorkload, "event", "audit_on");
  ASSERT_EQ(on.size(), 1u);
  EXPECT_EQ(MemoryEvidence::FieldOf(on[0], "rule"), "canary");
  EXPECT_EQ(MemoryEvidence::FieldOf(on[0], "cgroup_id"), "101");
}

TEST_F(PodAuditTest, AnotherNodesRuleAuditsNothing) {
  classifier_.SetAuditWorkloads({Canary()}, "node-2");
  EXPECT_FALSE(kernel_.IsAudited(101));
}

TEST_F(PodAuditTest, RelabelledPodIsEnforcedAgain) {
  classifier_.SetAuditWorkloads({Canary()}, "node-1");
  classifier_.OnPodUpdated({}, MakePod(kUidA, "agents", {{"role", "ai-agent"}}));  // what the API says now
  EXPECT_FALSE(kernel_.IsAudited(101));
  EXPECT_EQ(Records("audit_off"), 1u);
}

TEST_F(PodAuditTest, UngovernedPodIsNeverAudited) {
  classifier_.SetAuditWorkloads({Canary()}, "node-1");
  classifier_.OnPodUpdated({}, MakePod(kUidA, "agents", {{"rollout", "canary"}}));  // not role=ai-agent
  EXPECT_EQ(kernel_.At(101), WorkloadVerdict::kUngoverned);
  EXPECT_FALSE(kernel_.IsAudited(101));
}

TEST_F(PodAuditTest, DeletedPodLeavesNoAuditEntry) {
  classifier_.SetAuditWorkloads({Canary()}, "node-1");
  classifier_.OnPodDeleted(MakePod(kUidA, "agents", {}));
  EXPECT_FALSE(kernel_.IsAudited(101));
  EXPECT_TRUE(classifier_.AuditedWorkloads().empty());
  EXPECT_EQ(kernel_.At(101), WorkloadVerdict::kGoverned);  // the cgroup remains: enforced
}

TEST_F(PodAuditTest, BundleWithoutAuditedWorkloadsEndsAudit) {
  classifier_.SetAuditWorkloads({Canary()}, "node-1");
  classifier_.SetAuditWorkloads({}, "node-1");
  EXPECT_FALSE(kernel_.IsAudited(101));
}

TEST(PodAuditStartTest, PinnedAuditOfAGoneCgroupIsEnded) {
  FakeWorkloadMap kernel;
  MemoryEvidence evidence;
  ASSERT_TRUE(kernel.SetAudit(555, true).ok());  // a previous agent's, cgroup gone
  ASSERT_TRUE(kernel.SetAudit(101, true).ok());  // a previous agent's, cgroup live
  PodClassifier c(*k8s::KubepodsRoot::Parse("/kubepods.slice"), "/system.slice/agent", kernel, evidence);
  ASSERT_TRUE(c.Start({{BurstablePod(kUidA), 101}}).ok());
  EXPECT_FALSE(kernel.IsAudited(555));
  EXPECT_TRUE(kernel.IsAudited(101));  // kept until everything is known
  c.SetSelectors(AgentSelectors());
  c.SetAuditWorkloads({}, "node-1");
  c.OnNamespaceAdded(MakeNs("agents", {{"governed", "true"}}));
  c.OnPodAdded(MakePod(kUidA, "agents", {{"role", "ai-agent"}}));
  c.OnSynced(k8s::Resource::kNamespaces);
  c.OnSynced(k8s::Resource::kPods);
  EXPECT_FALSE(kernel.IsAudited(101));  // then decided: the bundle audits nothing
}

TEST(AuditWorkloadsValidateTest, ExeSelectorsAndBadIdsAreRefused) {
  v1::ProtectedTargets m;
  *m.add_audit_workloads() = Audited("ok");
  m.mutable_audit_workloads(0)->add_cgroup_paths("/taogate/a");
  EXPECT_TRUE(ValidateAuditWorkloads(m).ok());
  m.mutable_audit_workloads(0)->add_exe_paths("/usr/bin/psql");
  EXPECT_NE(ValidateAuditWorkloads(m).message().find("exe selectors"), std::string_view::npos);
  v1::ProtectedTargets none;
  *none.add_audit_workloads() = Audited("no-selector");
  EXPECT_FALSE(ValidateAuditWorkloads(none).ok());
  v1::ProtectedTargets bad_id;
  *bad_id.add_audit_workloads() = Audited("not an id");
  bad_id.mutable_audit_workloads(0)->add_nodes("node-1");
  EXPECT_FALSE(ValidateAuditWorkloads(bad_id).ok());
  EXPECT_FALSE(ValidateProtectedTargets(m).ok());  // refuses the whole set
}

class RootAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path().string() + "/taogate";
    for (const char* w : {"reporter", "batch"}) std::filesystem::create_directories(root_ + "/" + w);
  }
  v1::ProtectedTargets Set(std::vector<std::string> cgroup_paths, std::string node = "") {
    v1::ProtectedTargets m;
    v1::HoldWorkload* w = m.add_audit_workloads();
    w->set_id("rollout");
    for (auto& p : cgroup_paths) w->add_cgroup_paths(p);
    if (!node.empty()) w->add_nodes(node);
    return m;
  }
  taogate::testing::TempDir dir_;
  std::string root_;
  FakeWorkloadMap kernel_;
  MemoryEvidence evidence_;
  RootAuditSync sync_{kernel_, evidence_, dir_.path().string(), "/taogate", "node-1", 60'000};
};

TEST_F(RootAuditTest, CoveredChildrenAreAuditedByPathComponent) {
  sync_.Applied(Set({"/taogate/reporter"}));
  EXPECT_TRUE(kernel_.IsAudited(Ino(root_ + "/reporter")));
  EXPECT_FALSE(kernel_.IsAudited(Ino(root_ + "/batch")));
  sync_.Applied(Set({"/taogate"}));  // an ancestor covers every workload
  EXPECT_TRUE(kernel_.IsAudited(Ino(root_ + "/batch")));
  sync_.Applied(Set({"/taogate/re"}));  // never by string prefix
  EXPECT_TRUE(kernel_.Audited()->empty());
}

TEST_F(RootAuditTest, AnotherNodeAuditsNothing) {
  sync_.Applied(Set({"/taogate"}, "node-2"));
  EXPECT_TRUE(kernel_.Audited()->empty());
  sync_.Applied(Set({"/taogate"}, "node-1"));
  EXPECT_EQ(kernel_.Audited()->size(), 2u);
}

TEST_F(RootAuditTest, EnforceAgainEndsAuditAndRecordsBoth) {
  sync_.Applied(Set({"/taogate/reporter"}));
  sync_.Applied(v1::ProtectedTargets{});
  EXPECT_TRUE(kernel_.Audited()->empty());
  auto on = evidence_.Find(Evidence::Kind::kWorkload, "event", "audit_on");
  auto off = evidence_.Find(Evidence::Kind::kWorkload, "event", "audit_off");
  ASSERT_EQ(on.size(), 1u);
  ASSERT_EQ(off.size(), 1u);
  EXPECT_EQ(MemoryEvidence::FieldOf(on[0], "path"), "/taogate/reporter");
  EXPECT_EQ(MemoryEvidence::FieldOf(off[0], "rule"), "rollout");
}

TEST_F(RootAuditTest, PinnedEntriesOfAPreviousAgentAreReDecided) {
  ASSERT_TRUE(kernel_.SetAudit(987654321, true).ok());  // a cgroup that is gone
  sync_.Applied(Set({"/taogate/reporter"}));
  EXPECT_FALSE(kernel_.IsAudited(987654321));
  EXPECT_TRUE(kernel_.IsAudited(Ino(root_ + "/reporter")));
}

TEST_F(RootAuditTest, NewWorkloadCgroupIsAuditedAndAGoneOneEnded) {
  ASSERT_TRUE(sync_.Start().ok());
  sync_.Applied(Set({"/taogate"}));
  std::filesystem::create_directories(root_ + "/newcomer");
  const uint64_t id = Ino(root_ + "/newcomer");
  EXPECT_TRUE(Eventually([&] { return kernel_.IsAudited(id); }));
  std::filesystem::remove(root_ + "/newcomer");
  EXPECT_TRUE(Eventually([&] { return !kernel_.IsAudited(id); }));
  sync_.Stop();
}

}  // namespace
}  // namespace taogate::agent
