// Pods mode, the fail-closed corners: callers with no pod cgroup, QoS
// cgroups the agent did not mark, and the API's preconditions.
#include <cerrno>

#include "bpf/pods_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

using PodsRulesTest = PodsTest;

constexpr Shape kSystemdBurstable{Driver::kSystemd, Qos::kBurstable};
constexpr Shape kCgroupfsBestEffort{Driver::kCgroupfs, Qos::kBestEffort};

TEST_F(PodsRulesTest, QosCgroupNotMarkedNestedIsOneUnclassifiedWorkload) {
  for (const Shape& s : {kSystemdBurstable, kCgroupfsBestEffort}) {
    std::string qos = QosCgroup(s, /*nested=*/false);
    std::string pod = qos + "/" + PodCgroupName(s, "0e7c2c3a-5b1d-4f0e-9a53-7a1f0c2d9b11");
    ASSERT_TRUE(CreateCgroup(pod).ok());
    // Marking the pod ungoverned does not help: resolution stops at the
    // QoS cgroup, which is unclassified, so governed.
    Mark(pod, WorkloadKind::kUngoverned);
    EXPECT_EQ(Connect(pod), EPERM) << ShapeName(s);
    // And a grant on the pod's id is not the workload's grant.
    Grant(pod, 1);
    EXPECT_EQ(Connect(pod), EPERM) << ShapeName(s);
    // Once the QoS cgroup is marked nested the pod's own entry decides.
    Mark(qos, WorkloadKind::kNested);
    EXPECT_EQ(Connect(pod), 0) << ShapeName(s);
  }
}

TEST_F(PodsRulesTest, ProcessDirectlyInRootOrQosCgroupIsDenied) {
  EXPECT_EQ(Connect(root_.path()), EPERM);
  for (const Shape& s : {kSystemdBurstable, kCgroupfsBestEffort}) {
    std::string qos = QosCgroup(s);  // marked nested: the workload would be below it
    EXPECT_EQ(Connect(qos), EPERM) << ShapeName(s);
  }
  EXPECT_EQ(ConnectOpen(root_.path()), 0);
  DrainEvents();
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().cgroup_id, 0u);  // no workload cgroup: no grant can name it
}

TEST_F(PodsRulesTest, NestedMarkOnAPodLevelBelowQosIsNotFollowed) {
  std::string qos = QosCgroup(kSystemdBurstable);
  Pod p = MakePod(kSystemdBurstable);
  Mark(p.cgroup, WorkloadKind::kNested);  // only one level of nesting
  Mark(p.containers[0], WorkloadKind::kUngoverned);
  EXPECT_EQ(Connect(p.containers[0]), EPERM);
}

TEST_F(PodsRulesTest, SetWorkloadRefusesGovernedRootModeAndBadInput) {
  gate_.reset();
  gate_ = OpenPodsGate(/*pods=*/false);
  ASSERT_NE(gate_, nullptr);
  EXPECT_FALSE(gate_->pods());
  EXPECT_EQ(gate_->SetWorkload(IdOf(a_.path()), WorkloadKind::kGoverned).code(),
            absl::StatusCode::kFailedPrecondition);
  gate_.reset();
  gate_ = OpenPodsGate(/*pods=*/true);
  ASSERT_NE(gate_, nullptr);
  EXPECT_TRUE(gate_->pods());
  EXPECT_EQ(gate_->SetWorkload(0, WorkloadKind::kGoverned).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gate_->SetWorkload(IdOf(a_.path()), static_cast<WorkloadKind>(7)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gate_->RemoveWorkload(IdOf(a_.path())).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(gate_->SetWorkload(IdOf(a_.path()), WorkloadKind::kUngoverned, 42).ok());
  ASSERT_TRUE(gate_->SetWorkload(IdOf(a_.path()), WorkloadKind::kGoverned, 43).ok());  // replace
  auto w = gate_->Workloads();
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->size(), 1u);
  EXPECT_EQ(w->at(IdOf(a_.path())), WorkloadKind::kGoverned);
  EXPECT_TRUE(gate_->RemoveWorkload(IdOf(a_.path())).ok());
  EXPECT_TRUE(gate_->Workloads()->empty());
}

TEST_F(PodsRulesTest, RemovedEntryMakesThePodGovernedAgain) {
  Pod p = MakePod({Driver::kCgroupfs, Qos::kGuaranteed});
  Mark(p.cgroup, WorkloadKind::kUngoverned);
  EXPECT_EQ(Connect(p.containers[0]), 0);
  ASSERT_TRUE(gate_->RemoveWorkload(IdOf(p.cgroup)).ok());
  EXPECT_EQ(Connect(p.containers[0]), EPERM);
}

}  // namespace
}  // namespace taogate::bpf::testing
