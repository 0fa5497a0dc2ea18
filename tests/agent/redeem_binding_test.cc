// The TAO's workload binding as attacks, without root:
// the real Redeemer, real signed TAOs, and a directory tree standing in for
// the cgroup2 mount so that ancestor cgroup ids are real inode numbers.
//
// A TAO binds node + workload path + cgroup id (or pod uid); the caller's
// real cgroup (SO_PEERCRED) must agree with every one of them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/redeem_fakes.h"
#include "tao/tao_testing.h"
#include "taogate/agent/redeem.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

using ::testing::HasSubstr;
using fakes::KeyVerifier;
using fakes::MemoryEvidence;
using fakes::MemoryGrants;
using taogate::testing::TestIssuer;

constexpr char kUid[] = "7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6";
constexpr char kUidSystemd[] = "7d1e1f3a_5b6c_4d7e_8f90_a1b2c3d4e5f6";

class RedeemBindingTest : public ::testing::Test {
 protected:
  RedeemBindingTest()
      : verifier_(issuer_.public_key()),
        redeemer_(RedeemConfig{.node_id = "node-a", .governed_root = "/taogate",
                               .cgroup2_mount = mount_.path().string()},
                  verifier_, evidence_, grants_) {}

  // Creates cgroup `path` (a directory under the fake mount); its id.
  uint64_t Cgroup(const std::string& path) {
    std::filesystem::create_directories(mount_.path().string() + path);
    auto id = CgroupIdOfPath(mount_.path().string() + path);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }
  // A caller whose kernel-reported cgroup is `path`.
  PeerIdentity In(const std::string& path) {
    return PeerIdentity{.pid = 100, .uid = 1000, .gid = 1000, .cgroup_path = path,
                        .cgroup_id = Cgroup(path)};
  }
  v1::TaoBody BoundTo(const std::string& workload_path, uint64_t cgroup_id) {
    v1::TaoBody b = issuer_.ValidBody();
    b.mutable_binding()->set_workload_path(workload_path);
    b.mutable_binding()->set_cgroup_id(cgroup_id);
    return b;
  }
  v1::TaoBody PodBound(const std::string& uid) {
    v1::TaoBody b = BoundTo("/taogate", 0);
    b.mutable_binding()->set_pod_uid(uid);
    return b;
  }
  RedeemOutcome Redeem(const v1::TaoBody& body, const PeerIdentity& peer) {
    return redeemer_.Redeem(issuer_.SignToWire(body), peer);
  }
  // Signs the body bytes as they are, without the codec's validation: what
  // an issuer that does not check (or an older one) would produce.
  std::string SignUnchecked(const v1::TaoBody& body) {
    v1::Tao tao;
    tao.set_body(body.SerializeAsString());
    std::string msg = std::string(tao::kTaoSignatureDomain) + tao.body();
    auto sig = issuer_.key().Sign(crypto::AsBytes(msg));
    EXPECT_TRUE(sig.ok());
    tao.set_signature(sig->data(), sig->size());
    tao.set_issuer_certificate(issuer_.certificate());
    return tao.SerializeAsString();
  }
  void ExpectRefused(const RedeemOutcome& out, std::string_view code) {
    EXPECT_EQ(out.reason_code, code) << out.status;
    EXPECT_FALSE(out.status.ok());
    EXPECT_EQ(grants_.installed_, 0);
    EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 0u);
    EXPECT_EQ(evidence_.LastField("reason_code"), code);
  }
  void ExpectGranted(const RedeemOutcome& out) {
    EXPECT_TRUE(out.status.ok()) << out.status;
    EXPECT_EQ(grants_.installed_, 1);
  }

  taogate::testing::TempDir mount_;
  TestIssuer issuer_;
  KeyVerifier verifier_;
  MemoryEvidence evidence_;
  MemoryGrants grants_;
  Redeemer redeemer_;
};

// Item 2: the policy matched /taogate/payments (declared by the requester),
// the requester put its own cgroup id in the binding. From its real cgroup
// the TAO is useless.
TEST_F(RedeemBindingTest, TaoBoundToAnotherWorkloadPathRefusedEvenWithTheCallersId) {
  PeerIdentity attacker = In("/taogate/attacker");
  ExpectRefused(Redeem(BoundTo("/taogate/payments", attacker.cgroup_id), attacker),
                reason::kWrongCgroup);
}

TEST_F(RedeemBindingTest, TaoWithoutWorkloadPathRefused) {
  PeerIdentity caller = In("/taogate/w1");
  v1::TaoBody b = BoundTo("/taogate/w1", caller.cgroup_id);
  b.mutable_binding()->clear_workload_path();
  auto out = Redeem(b, caller);
  ExpectRefused(out, reason::kWrongCgroup);
  EXPECT_THAT(std::string(out.status.message()), HasSubstr("workload path"));
}

TEST_F(RedeemBindingTest, PathIsMatchedByComponentNotByPrefix) {
  PeerIdentity caller = In("/taogate/w10");
  ExpectRefused(Redeem(BoundTo("/taogate/w1", caller.cgroup_id), caller), reason::kWrongCgroup);
}

// The id may name an ancestor of the caller only while that ancestor is
// inside the bound path: the path narrows what the id may reach.
TEST_F(RedeemBindingTest, AncestorIdOutsideTheBoundPathRefused) {
  uint64_t pod = Cgroup("/taogate/pod");
  PeerIdentity caller = In("/taogate/pod/ctr");
  ExpectRefused(Redeem(BoundTo("/taogate/pod/ctr", pod), caller), reason::kWrongCgroup);
}

TEST_F(RedeemBindingTest, AncestorIdInsideTheBoundPathAccepted) {
  uint64_t pod = Cgroup("/taogate/pod");
  ExpectGranted(Redeem(BoundTo("/taogate/pod", pod), In("/taogate/pod/ctr")));
}

TEST_F(RedeemBindingTest, CallerBelowTheBoundPathWithItsOwnIdAccepted) {
  PeerIdentity caller = In("/taogate/w1/worker");
  ExpectGranted(Redeem(BoundTo("/taogate/w1", caller.cgroup_id), caller));
}

TEST_F(RedeemBindingTest, RootPathBindsOnlyTheId) {
  PeerIdentity caller = In("/taogate/w1");
  ExpectGranted(Redeem(BoundTo("/", caller.cgroup_id), caller));
}

TEST_F(RedeemBindingTest, IdOfTheGovernedRootNeverAccepted) {
  uint64_t root = Cgroup("/taogate");
  ExpectRefused(Redeem(BoundTo("/taogate", root), In("/taogate/w1")), reason::kWrongCgroup);
}

// Item 3: pod_uid matches a whole component in the forms kubelet writes.
TEST_F(RedeemBindingTest, PodUidAcceptedFromCgroupfsLayout) {
  ExpectGranted(Redeem(PodBound(kUid),
                       In(std::string("/taogate/kubepods/burstable/pod") + kUid + "/0123abcd")));
}

TEST_F(RedeemBindingTest, PodUidAcceptedFromSystemdLayout) {
  ExpectGranted(Redeem(PodBound(kUid),
                       In(std::string("/taogate/kubepods.slice/kubepods-burstable.slice/"
                                      "kubepods-burstable-pod") +
                          kUidSystemd + ".slice/cri-containerd-0123abcd.scope")));
}

TEST_F(RedeemBindingTest, PodUidAcceptedFromSystemdGuaranteedLayout) {
  ExpectGranted(Redeem(PodBound(kUid), In(std::string("/taogate/kubepods.slice/kubepods-pod") +
                                          kUidSystemd + ".slice")));
}

TEST_F(RedeemBindingTest, PodUidInsideALongerComponentRefused) {
  ExpectRefused(Redeem(PodBound(kUid), In(std::string("/taogate/evil-pod") + kUid)),
                reason::kWrongCgroup);
}

TEST_F(RedeemBindingTest, PodUidWithASuffixRefused) {
  ExpectRefused(Redeem(PodBound(kUid), In(std::string("/taogate/pod") + kUid + "x")),
                reason::kWrongCgroup);
}

TEST_F(RedeemBindingTest, PodUidAfterAnotherPrefixRefused) {
  ExpectRefused(Redeem(PodBound(kUid), In(std::string("/taogate/podX-") + kUid)),
                reason::kWrongCgroup);
}

TEST_F(RedeemBindingTest, SystemdFormOutsideKubepodsRefused) {
  ExpectRefused(Redeem(PodBound(kUid), In(std::string("/taogate/evil-pod") + kUidSystemd + ".slice")),
                reason::kWrongCgroup);
}

TEST_F(RedeemBindingTest, SystemdFormWithDashesRefused) {
  ExpectRefused(Redeem(PodBound(kUid), In(std::string("/taogate/kubepods-pod") + kUid + ".slice")),
                reason::kWrongCgroup);
}

// A short uid is a substring of many names: it never gets past the codec.
TEST_F(RedeemBindingTest, ShortPodUidRefusedAsMalformed) {
  v1::TaoBody b = PodBound("1");
  ExpectRefused(redeemer_.Redeem(SignUnchecked(b), In("/taogate/pod1")), reason::kMalformed);
}

TEST_F(RedeemBindingTest, UppercasePodUidRefusedAsMalformed) {
  std::string upper = "7D1E1F3A-5B6C-4D7E-8F90-A1B2C3D4E5F6";
  v1::TaoBody b = PodBound(upper);
  ExpectRefused(redeemer_.Redeem(SignUnchecked(b), In("/taogate/pod" + upper)), reason::kMalformed);
}

}  // namespace
}  // namespace taogate::agent
