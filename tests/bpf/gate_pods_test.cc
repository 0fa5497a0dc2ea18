// Pods mode, for both cgroup drivers and every QoS class: which pod a
// caller belongs to is decided by cgroup level and tg_workloads, never by
// name; unclassified means governed; ungoverned pods are left entirely
// alone; grants and quarantine are per pod.
#include <unistd.h>

#include <cerrno>

#include "bpf/pods_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

class PodShapeTest : public PodsTest, public ::testing::WithParamInterface<Shape> {};

TEST_P(PodShapeTest, GovernedPodWithoutGrantIsDenied) {
  Pod a = MakePod(GetParam());
  Mark(a.cgroup, WorkloadKind::kGoverned);
  EXPECT_EQ(Connect(a.containers[0]), EPERM);
  EXPECT_EQ(ConnectOpen(a.containers[0]), 0);
}

TEST_P(PodShapeTest, UngovernedPodIsLeftAloneSilently) {
  Pod a = MakePod(GetParam());
  Mark(a.cgroup, WorkloadKind::kUngoverned);
  DrainEvents();
  uint64_t checked = Counter("checked"), deny = Counter("deny");
  EXPECT_EQ(Connect(a.containers[0]), 0);
  EXPECT_EQ(Connect(a.containers[0]), 0);
  EXPECT_EQ(Counter("checked"), checked);
  EXPECT_EQ(Counter("deny"), deny);
  events_.clear();
  DrainEvents();
  EXPECT_TRUE(events_.empty());
}

TEST_P(PodShapeTest, OneGrantServesAnyContainerOfItsPodOnce) {
  Pod a = MakePod(GetParam(), 2), b = MakePod(GetParam());
  Mark(a.cgroup, WorkloadKind::kGoverned);
  Mark(b.cgroup, WorkloadKind::kGoverned);
  Grant(a.cgroup, 1);
  EXPECT_EQ(Connect(b.containers[0]), EPERM);
  EXPECT_EQ(Connect(a.containers[1]), 0);
  EXPECT_EQ(Connect(a.containers[0]), EPERM);
  DrainEvents();
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().cgroup_id, IdOf(a.cgroup));
}

TEST_P(PodShapeTest, UnclassifiedPodIsDenied) {
  Pod a = MakePod(GetParam());
  EXPECT_EQ(Connect(a.containers[0]), EPERM);
  DrainEvents();
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().cgroup_id, IdOf(a.cgroup));
  // A grant for some other pod does not help it.
  Pod b = MakePod(GetParam());
  Grant(b.cgroup, 2);
  EXPECT_EQ(Connect(a.containers[0]), EPERM);
}

TEST_P(PodShapeTest, CgroupNamedLikeAnotherPodStaysInItsPod) {
  Pod a = MakePod(GetParam()), b = MakePod(GetParam());
  Mark(a.cgroup, WorkloadKind::kGoverned);
  Mark(b.cgroup, WorkloadKind::kUngoverned);
  // A's container makes cgroups named like B (and like B's container) and
  // moves itself there.
  std::string fake = a.containers[0] + "/" + PodCgroupName(GetParam(), b.uid);
  std::string deeper = fake + "/" + b.containers[0].substr(b.containers[0].rfind('/') + 1);
  uint16_t port = prot_.port;
  int r = RunIn(a.containers[0], [&] {
    if (!CreateCgroup(fake).ok() || !CreateCgroup(deeper).ok()) return 100;
    if (!MoveToCgroup(0, deeper).ok()) return 101;
    return TryConnect("127.0.0.1", port);
  });
  EXPECT_EQ(r, EPERM);
  Grant(a.cgroup, 3);
  EXPECT_EQ(Connect(deeper), 0);  // A's grant, consumed by A's workload
  EXPECT_EQ(Connect(deeper), EPERM);
}

TEST_P(PodShapeTest, KillSwitchAllSparesOnlyUngovernedPods) {
  Pod gov = MakePod(GetParam()), ungov = MakePod(GetParam()), unknown = MakePod(GetParam());
  Mark(gov.cgroup, WorkloadKind::kGoverned);
  Mark(ungov.cgroup, WorkloadKind::kUngoverned);
  ASSERT_TRUE(gate_->QuarantineAll(QuarantineMode::kNetwork).ok());
  EXPECT_EQ(ConnectOpen(gov.containers[0]), EPERM);
  EXPECT_EQ(ConnectOpen(unknown.containers[0]), EPERM);
  EXPECT_EQ(ConnectOpen(ungov.containers[0]), 0);
  EXPECT_EQ(Connect(ungov.containers[0]), 0);
  ASSERT_TRUE(gate_->ReleaseAll().ok());
  EXPECT_EQ(ConnectOpen(gov.containers[0]), 0);
}

TEST_P(PodShapeTest, PodQuarantineHitsOnlyThatPod) {
  Pod a = MakePod(GetParam(), 2), b = MakePod(GetParam());
  Mark(a.cgroup, WorkloadKind::kGoverned);
  Mark(b.cgroup, WorkloadKind::kGoverned);
  ASSERT_TRUE(gate_->Quarantine(IdOf(a.cgroup), QuarantineMode::kNetwork).ok());
  EXPECT_EQ(ConnectOpen(a.containers[0]), EPERM);
  EXPECT_EQ(ConnectOpen(a.containers[1]), EPERM);
  EXPECT_EQ(ConnectOpen(b.containers[0]), 0);
  // Quarantining the ungoverned pod's id changes nothing for it.
  Mark(b.cgroup, WorkloadKind::kUngoverned);
  ASSERT_TRUE(gate_->Quarantine(IdOf(b.cgroup), QuarantineMode::kNetwork).ok());
  EXPECT_EQ(ConnectOpen(b.containers[0]), 0);
}

TEST_P(PodShapeTest, ReclassifiedToGovernedOnTheNextConnect) {
  Pod a = MakePod(GetParam());
  Mark(a.cgroup, WorkloadKind::kUngoverned);
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  uint16_t port = prot_.port;
  // One process, two connects: the second after the reclassification.
  Child c(a.containers[0], [&] {
    int first = TryConnect("127.0.0.1", port);
    char x = static_cast<char>(first);
    if (write(done[1], &x, 1) != 1 || read(go[0], &x, 1) != 1) return 100;
    return TryConnect("127.0.0.1", port);
  });
  char first = -1;
  ASSERT_EQ(read(done[0], &first, 1), 1);
  EXPECT_EQ(first, 0);
  Mark(a.cgroup, WorkloadKind::kGoverned);
  ASSERT_EQ(write(go[1], "x", 1), 1);
  EXPECT_EQ(c.Wait(5000), EPERM);
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
}

TEST_P(PodShapeTest, WorkloadIdOfPidResolvesAsTheKernelDoes) {
  Pod gov = MakePod(GetParam()), ungov = MakePod(GetParam()), unknown = MakePod(GetParam());
  Mark(gov.cgroup, WorkloadKind::kGoverned);
  Mark(ungov.cgroup, WorkloadKind::kUngoverned);
  auto id_in = [&](const std::string& cg) {
    Child c(cg, [] {
      pause();
      return 0;
    });
    absl::StatusOr<uint64_t> id = absl::UnknownError("not moved");
    for (int i = 0; i < 400; ++i) {
      auto path = CgroupPathOfPid(c.pid());
      if (path.ok() && *path == cg) {
        id = gate_->WorkloadIdOfPid(c.pid());
        break;
      }
      usleep(5000);
    }
    return id;
  };
  EXPECT_EQ(*id_in(gov.containers[0]), IdOf(gov.cgroup));
  EXPECT_EQ(*id_in(unknown.containers[0]), IdOf(unknown.cgroup));
  EXPECT_EQ(id_in(ungov.containers[0]).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(id_in(root_.path()).status().code(), absl::StatusCode::kFailedPrecondition);
  if (GetParam().qos != Qos::kGuaranteed) {
    EXPECT_EQ(id_in(QosCgroup(GetParam())).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(gate_->WorkloadIdOfPid(getpid()).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(PodShapeTest, ForgetWorkloadRemovesGrantsQuarantineAndEntry) {
  Pod a = MakePod(GetParam()), b = MakePod(GetParam());
  Mark(a.cgroup, WorkloadKind::kGoverned);
  Mark(b.cgroup, WorkloadKind::kGoverned);
  Grant(a.cgroup, 4);
  Grant(b.cgroup, 5);
  Protect("unix:/run/taogate-pods-test.sock");
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a.cgroup), Dest("unix:/run/taogate-pods-test.sock"),
                                  Tao(6), MonoNowNs() + 10'000'000'000ull).ok());
  ASSERT_TRUE(gate_->Quarantine(IdOf(a.cgroup), QuarantineMode::kNetwork).ok());
  auto n = gate_->ForgetWorkload(IdOf(a.cgroup));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4u);  // IP grant, unix grant, workload entry, quarantine
  EXPECT_EQ(*gate_->GrantCount(), 1u);  // B's
  EXPECT_EQ(*gate_->QuarantinedCount(), 0u);
  EXPECT_EQ(gate_->Workloads()->count(IdOf(a.cgroup)), 0u);
  EXPECT_EQ(*gate_->ForgetWorkload(IdOf(a.cgroup)), 0u);
  // A pod reusing nothing of A gets nothing of A.
  Pod c = MakePod(GetParam());
  Mark(c.cgroup, WorkloadKind::kGoverned);
  EXPECT_EQ(Connect(c.containers[0]), EPERM);
  EXPECT_EQ(Connect(b.containers[0]), 0);
}

INSTANTIATE_TEST_SUITE_P(AllShapes, PodShapeTest, ::testing::ValuesIn(kAllShapes),
                         [](const ::testing::TestParamInfo<Shape>& i) { return ShapeName(i.param); });

}  // namespace
}  // namespace taogate::bpf::testing
