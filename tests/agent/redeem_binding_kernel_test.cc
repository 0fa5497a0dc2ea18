// The TAO's workload binding as attacks against a real agent process, real
// socket, real cgroups and the real kernel gate.
// The caller's identity is what the kernel says (SO_PEERCRED + pidfd ->
// /proc/<pid>/cgroup), never what the requester declared to the governor.
#include <gtest/gtest.h>

#include "agent/agent_harness.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

constexpr char kUid[] = "7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6";

class RedeemBindingKernelTest : public TwoWorkloadTest {
 protected:
  WorkloadResult RedeemConnect(const std::string& from, const v1::TaoBody& b) {
    return RunIn(from, {"redeem-connect", workload_sock_, WriteTao(Sign(b)), "127.0.0.1",
                        std::to_string(protected_->port())});
  }
  void ExpectWrongCgroup(const WorkloadResult& r) {
    EXPECT_TRUE(r.Has("REDEEM ERR WRONG_CGROUP\n")) << r.out;
    EXPECT_TRUE(r.Has("CONNECT ERR EPERM")) << r.out;
    EXPECT_FALSE(Find(RecordKind::kRejected, "reason_code", "WRONG_CGROUP").empty());
    EXPECT_TRUE(Find(RecordKind::kConsumed).empty());
    EXPECT_EQ(protected_->accepted(), 0);
  }
  v1::TaoBody PodBound() const {
    v1::TaoBody b = Body(0, protected_->port());
    b.mutable_binding()->set_pod_uid(kUid);
    b.mutable_binding()->set_workload_path(governed_rel_);
    return b;
  }
};

// w2 has no rule of its own: it declared w1's path (which the policy allows)
// with its own cgroup id. The TAO is bound to w1's path; from w2 it is refused.
TEST_F(RedeemBindingKernelTest, TaoForAnotherWorkloadsPathRefusedFromTheRealCgroup) {
  v1::TaoBody b = Body(w2_, protected_->port());
  b.mutable_binding()->set_workload_path(governed_rel_ + "/w1");
  ExpectWrongCgroup(RedeemConnect("w2", b));
}

TEST_F(RedeemBindingKernelTest, PodUidInsideAnotherCgroupNameRefused) {
  MakeWorkload(std::string("evil-pod") + kUid);
  ExpectWrongCgroup(RedeemConnect(std::string("evil-pod") + kUid, PodBound()));
}

TEST_F(RedeemBindingKernelTest, PodUidComponentAccepted) {
  MakeWorkload(std::string("pod") + kUid);
  auto r = RedeemConnect(std::string("pod") + kUid, PodBound());
  EXPECT_TRUE(r.Has("REDEEM OK")) << r.out;
  EXPECT_TRUE(r.Has("CONNECT OK")) << r.out;
}

}  // namespace
}  // namespace taogate::agent::testing
