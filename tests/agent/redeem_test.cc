// The redeem decision as attacks, without root: real TAOs, real signatures,
// in-memory evidence and grant table. The kernel-level versions of these
// tests (real agent process, real socket, real cgroups) are in
// agent_kernel_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "agent/redeem_fakes.h"
#include "tao/tao_testing.h"
#include "testing/manual_clock.h"
#include "taogate/agent/redeem.h"

namespace taogate::agent {
namespace {

using ::testing::HasSubstr;
using testing::TestIssuer;
using namespace fakes;

class RedeemTest : public ::testing::Test {
 protected:
  RedeemTest()
      : verifier_(issuer_.public_key()),
        redeemer_(RedeemConfig{.node_id = "node-a", .governed_root = "/taogate", .cgroup2_mount = "/nonexistent"},
                  verifier_, evidence_, grants_, clock_) {}

  PeerIdentity Caller(uint64_t cgroup = 4242) {
    return PeerIdentity{.pid = 100, .uid = 1000, .gid = 1000, .cgroup_path = "/taogate/w1", .cgroup_id = cgroup};
  }
  RedeemOutcome Redeem(const v1::TaoBody& body, const PeerIdentity& peer) {
    return redeemer_.Redeem(issuer_.SignToWire(body), peer);
  }
  void ExpectRejected(const RedeemOutcome& out, std::string_view code, absl::StatusCode status) {
    EXPECT_EQ(out.reason_code, code);
    EXPECT_EQ(out.status.code(), status) << out.status;
    EXPECT_THAT(std::string(out.status.message()), HasSubstr(std::string(code) + ": "));
    EXPECT_EQ(grants_.installed_, 0);
    EXPECT_EQ(evidence_.Count(Evidence::Kind::kRejected), 1u);
    EXPECT_EQ(evidence_.LastField("reason_code"), code);
  }

  TestIssuer issuer_;
  KeyVerifier verifier_;
  MemoryEvidence evidence_;
  MemoryGrants grants_;
  taogate::testing::ManualClock clock_{taogate::testing::NowMs()};
  Redeemer redeemer_;
};

TEST_F(RedeemTest, GenuineTaoConsumedThenGranted) {
  auto out = Redeem(issuer_.ValidBody(), Caller());
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_EQ(grants_.installed_, 1);
  EXPECT_EQ(grants_.last_cgroup_, 4242u);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 1u);
}

TEST_F(RedeemTest, ReplayRefused) {
  std::string wire = issuer_.SignToWire(issuer_.ValidBody());
  ASSERT_TRUE(redeemer_.Redeem(wire, Caller()).status.ok());
  auto again = redeemer_.Redeem(wire, Caller());
  EXPECT_EQ(again.reason_code, reason::kReplay);
  EXPECT_EQ(again.status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(grants_.installed_, 1);
}

TEST_F(RedeemTest, ReplayRefusedAfterRestoreFromLedger) {
  v1::TaoBody body = issuer_.ValidBody();
  TaoId id{};
  std::memcpy(id.data(), body.id().data(), 16);
  redeemer_.RestoreConsumed(id);
  ExpectRejected(Redeem(body, Caller()), reason::kReplay, absl::StatusCode::kAlreadyExists);
}

TEST_F(RedeemTest, MalformedRefused) {
  ExpectRejected(redeemer_.Redeem("garbage", Caller()), reason::kMalformed,
                 absl::StatusCode::kInvalidArgument);
}

TEST_F(RedeemTest, ForgedSignatureRefused) {
  v1::Tao tao = issuer_.Sign(issuer_.ValidBody());
  std::string sig = tao.signature();
  sig[5] ^= 1;
  tao.set_signature(sig);
  ExpectRejected(redeemer_.Redeem(tao.SerializeAsString(), Caller()), reason::kBadSignature,
                 absl::StatusCode::kUnauthenticated);
}

// The consumed index is pruned once TAOs are long expired (memory stays
// bounded on a busy node), yet a pruned TAO can never be redeemed again, not
// even with the wall clock set back to before its expiry.
TEST_F(RedeemTest, ConsumedIndexPrunedButPrunedTaoNeverRedeemable) {
  std::string old_wire = issuer_.SignToWire(issuer_.ValidBody());
  ASSERT_TRUE(redeemer_.Redeem(old_wire, Caller()).status.ok());
  EXPECT_EQ(redeemer_.ConsumedCount(), 1u);

  const int64_t later = clock_.WallMs() + 10 * 60'000;
  clock_.SetWallMs(later);
  v1::TaoBody fresh = issuer_.ValidBody();
  fresh.set_not_before_ms(later - 1'000);
  fresh.set_expires_at_ms(later + 30'000);
  ASSERT_TRUE(Redeem(fresh, Caller()).status.ok());
  EXPECT_EQ(redeemer_.ConsumedCount(), 1u) << "the expired TAO's id should have been pruned";
  EXPECT_GE(redeemer_.horizon_ms(), taogate::testing::NowMs());

  // Attack: set the clock back so the old TAO looks valid again, replay it.
  clock_.SetWallMs(later - 10 * 60'000);
  auto replay = redeemer_.Redeem(old_wire, Caller());
  EXPECT_EQ(replay.reason_code, reason::kReplay);
  EXPECT_THAT(std::string(replay.status.message()), HasSubstr("horizon"));
  EXPECT_EQ(grants_.installed_, 2);
  // Only the fresh TAO is left, and it has not expired.
  EXPECT_EQ(redeemer_.PruneConsumed(), 0u);
}

TEST_F(RedeemTest, WrongKeyRefused) {
  TestIssuer other;
  ExpectRejected(redeemer_.Redeem(other.SignToWire(other.ValidBody()), Caller()),
                 reason::kBadSignature, absl::StatusCode::kUnauthenticated);
}

TEST_F(RedeemTest, ExpiredRefused) {
  clock_.Advance(120'000);
  ExpectRejected(Redeem(issuer_.ValidBody(), Caller()), reason::kExpired,
                 absl::StatusCode::kFailedPrecondition);
}

TEST_F(RedeemTest, NotYetValidRefused) {
  clock_.SetWallMs(clock_.WallMs() - 60'000);
  ExpectRejected(Redeem(issuer_.ValidBody(), Caller()), reason::kNotYetValid,
                 absl::StatusCode::kFailedPrecondition);
}

TEST_F(RedeemTest, WrongNodeRefused) {
  v1::TaoBody body = issuer_.ValidBody();
  body.mutable_binding()->set_node_id("node-b");
  ExpectRejected(Redeem(body, Caller()), reason::kWrongNode, absl::StatusCode::kPermissionDenied);
}

TEST_F(RedeemTest, StolenByAnotherCgroupRefused) {
  ExpectRejected(Redeem(issuer_.ValidBody(), Caller(9999)), reason::kWrongCgroup,
                 absl::StatusCode::kPermissionDenied);
}

TEST_F(RedeemTest, UngovernedCallerRefused) {
  PeerIdentity p = Caller();
  p.cgroup_path = "/user.slice";
  ExpectRejected(Redeem(issuer_.ValidBody(), p), reason::kNotGoverned,
                 absl::StatusCode::kPermissionDenied);
}

TEST_F(RedeemTest, UnprotectedTargetRefused) {
  v1::TaoBody body = issuer_.ValidBody();
  body.mutable_target()->set_port(8080);
  ExpectRejected(Redeem(body, Caller()), reason::kUnprotectedTarget,
                 absl::StatusCode::kFailedPrecondition);
}

TEST_F(RedeemTest, LedgerFailureFailsClosedAndSpendsTheTao) {
  evidence_.fail_ = true;
  std::string wire = issuer_.SignToWire(issuer_.ValidBody());
  auto out = redeemer_.Redeem(wire, Caller());
  EXPECT_FALSE(out.status.ok());
  EXPECT_EQ(grants_.installed_, 0);
  evidence_.fail_ = false;
  EXPECT_EQ(redeemer_.Redeem(wire, Caller()).reason_code, reason::kReplay);
  EXPECT_EQ(grants_.installed_, 0);
}

TEST_F(RedeemTest, GrantFailureIsAnErrorNeverASilentAllow) {
  grants_.fail_ = true;
  auto out = Redeem(issuer_.ValidBody(), Caller());
  EXPECT_EQ(out.reason_code, reason::kGrantFailed);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 1u);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kRejected), 1u);
}

TEST_F(RedeemTest, ThirtyTwoConcurrentRedeemsOneWinner) {
  std::string wire = issuer_.SignToWire(issuer_.ValidBody());
  std::atomic<int> ok{0}, replay{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i)
    threads.emplace_back([&] {
      auto out = redeemer_.Redeem(wire, Caller());
      if (out.status.ok()) ++ok;
      if (out.reason_code == reason::kReplay) ++replay;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(replay, 31);
  EXPECT_EQ(grants_.installed_, 1);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 1u);
}

TEST_F(RedeemTest, GrantNeverOutlivesTheTao) {
  v1::TaoBody body = issuer_.ValidBody();
  body.set_expires_at_ms(clock_.WallMs() + 5'000);
  auto out = Redeem(body, Caller());
  ASSERT_TRUE(out.status.ok());
  EXPECT_LE(out.grant_expires_at_ms, body.expires_at_ms());
}

}  // namespace
}  // namespace taogate::agent
