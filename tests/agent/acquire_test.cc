// Acquire/Authorize as attacks and flows, without root: a scripted governor,
// fixed attestation, the real Redeemer over in-memory evidence and grants
// and real signed TAOs. The kernel twin is acquire_kernel_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/acquire_fakes.h"
#include "agent/redeem_fakes.h"
#include "tao/tao_testing.h"
#include "taogate/agent/acquire.h"
#include "testing/manual_clock.h"

namespace taogate::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using P = v1::AcquireProgress;
using namespace fakes;

class AcquireTest : public ::testing::Test {
 protected:
  AcquireTest()
      : verifier_(issuer_.public_key()),
        redeemer_(RedeemConfig{.node_id = "node-a", .governed_root = "/taogate", .cgroup2_mount = "/nonexistent"},
                  verifier_, evidence_, grants_, clock_),
        acquirer_(AcquireOptions{.max_wait_ms = 60'000, .rate_per_s = 1, .burst = 3}, &governor_, attester_,
                  redeemer_, clock_) {}

  static PeerIdentity Caller(uint64_t cgroup = 4242, std::string path = "/taogate/w1") {
    return PeerIdentity{.pid = 100, .uid = 1000, .gid = 1000, .cgroup_path = path, .cgroup_id = cgroup,
                        .workload_cgroup_id = cgroup, .workload_cgroup_path = path};
  }
  static v1::AcquireRequest Request(std::string target = "tcp:127.0.0.1:5432") {
    v1::AcquireRequest r;
    r.set_target(target);
    r.set_action_class("db.read");
    r.set_reason("nightly report");
    return r;
  }
  // Runs one call; returns the phases streamed (the messages in out_).
  std::vector<P::Phase> Run(const v1::AcquireRequest& req, bool redeem = true, PeerIdentity peer = Caller()) {
    out_.clear();
    acquirer_.Run(req, peer, -1, redeem, [&](const P& p) {
      out_.push_back(p);
      return true;
    });
    std::vector<P::Phase> phases;
    for (const auto& p : out_) phases.push_back(p.phase());
    return phases;
  }
  std::string Permit() { return issuer_.SignToWire(issuer_.ValidBody()); }
  const P& Last() const { return out_.back(); }

  testing::TestIssuer issuer_;
  KeyVerifier verifier_;
  MemoryEvidence evidence_;
  MemoryGrants grants_;
  taogate::testing::ManualClock clock_{taogate::testing::NowMs()};
  Redeemer redeemer_;
  ScriptedGovernor governor_;
  FixedAttester attester_;
  Acquirer acquirer_;
  std::vector<P> out_;
};

TEST_F(AcquireTest, PendingThenApprovedIsGranted) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PENDING_APPROVAL);
  governor_.then_ = ScriptedGovernor::Outcome(v1::OUTCOME_PERMIT, Permit());
  EXPECT_THAT(Run(Request()), ElementsAre(P::ATTESTED, P::PENDING_APPROVAL, P::GRANTED));
  EXPECT_EQ(out_[1].decision_id(), "d-1");
  EXPECT_EQ(Last().target(), "tcp:127.0.0.1:5432");
  EXPECT_EQ(Last().tao_id().size(), 16u);
  EXPECT_GT(Last().expires_at_ms(), 0);
  EXPECT_EQ(grants_.installed_, 1);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 1u);
}

TEST_F(AcquireTest, GovernorToldAttestedFactsOnly) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PERMIT, Permit());
  Run(Request());
  ASSERT_EQ(governor_.requests_.size(), 1u);
  const auto& r = governor_.requests_[0];
  EXPECT_EQ(r.attested().cgroup_path(), "/taogate/w1");
  EXPECT_EQ(r.attested().exe_sha256(), std::string(64, 'a'));
  EXPECT_TRUE(r.cgroup_path().empty());
  EXPECT_TRUE(r.pod_labels().empty());
  EXPECT_EQ(r.action_class(), "db.read");
}

// Annotations reach the governor as given (it records them); malformed ones
// never leave the node.
TEST_F(AcquireTest, AnnotationsForwardedToGovernor) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PERMIT, Permit());
  auto req = Request();
  (*req.mutable_annotations())["ticket"] = "OPS-1234";
  (*req.mutable_annotations())["run"] = "nightly";
  Run(req);
  ASSERT_EQ(governor_.requests_.size(), 1u);
  EXPECT_EQ(governor_.requests_[0].annotations().size(), 2u);
  EXPECT_EQ(governor_.requests_[0].annotations().at("ticket"), "OPS-1234");
  EXPECT_EQ(governor_.requests_[0].annotations().at("run"), "nightly");
  clock_.Advance(5'000);
  (*req.mutable_annotations())["bad"] = "line\nbreak";
  Run(req);
  EXPECT_EQ(Last().reason_code(), "INVALID");
  EXPECT_EQ(governor_.requests_.size(), 1u);
}

TEST_F(AcquireTest, DeniedGrantsNothing) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_DENY);
  EXPECT_THAT(Run(Request()), ElementsAre(P::ATTESTED, P::REFUSED));
  EXPECT_EQ(Last().reason_code(), "DENIED");
  EXPECT_EQ(grants_.installed_, 0);
}

TEST_F(AcquireTest, RejectedAndExpiredKeepTheirCodes) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PENDING_APPROVAL);
  governor_.then_ = ScriptedGovernor::Outcome(v1::OUTCOME_REJECTED);
  Run(Request());
  EXPECT_EQ(Last().reason_code(), "REJECTED");
  governor_.then_ = ScriptedGovernor::Outcome(v1::OUTCOME_EXPIRED);
  Run(Request());
  EXPECT_EQ(Last().reason_code(), "EXPIRED");
  EXPECT_EQ(grants_.installed_, 0);
}

TEST_F(AcquireTest, StillPendingAtDeadlineIsTimeout) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PENDING_APPROVAL);
  governor_.then_ = ScriptedGovernor::Outcome(v1::OUTCOME_PENDING_APPROVAL);
  auto req = Request();
  req.set_timeout_ms(500);
  EXPECT_THAT(Run(req), ElementsAre(P::ATTESTED, P::PENDING_APPROVAL, P::REFUSED));
  EXPECT_EQ(Last().reason_code(), "TIMEOUT");
  EXPECT_EQ(governor_.deadlines_[0], clock_.WallMs() + 500);
}

TEST_F(AcquireTest, CallerTimeoutCappedByAgent) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_DENY);
  auto req = Request();
  req.set_timeout_ms(4'000'000'000u);
  Run(req);
  EXPECT_EQ(governor_.deadlines_[0], clock_.WallMs() + 60'000);
}

TEST_F(AcquireTest, GovernorUnreachableIsUnavailable) {
  governor_.first_ = absl::UnavailableError("connection refused");
  EXPECT_THAT(Run(Request()), ElementsAre(P::ATTESTED, P::REFUSED));
  EXPECT_EQ(Last().reason_code(), "UNAVAILABLE");
  EXPECT_EQ(grants_.installed_, 0);
}

TEST_F(AcquireTest, NoGovernorConfiguredIsUnavailable) {
  Acquirer none(AcquireOptions{}, nullptr, attester_, redeemer_, clock_);
  std::vector<P> out;
  none.Run(Request(), Caller(), -1, true, [&](const P& p) { out.push_back(p); return true; });
  EXPECT_EQ(out.back().reason_code(), "UNAVAILABLE");
}

TEST_F(AcquireTest, FloodFromOneWorkloadIsBoundedOthersUnaffected) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_DENY);
  for (int i = 0; i < 3; ++i) Run(Request());
  Run(Request());
  EXPECT_EQ(Last().reason_code(), "RATE_LIMITED");
  EXPECT_EQ(governor_.requests_.size(), 3u);
  Run(Request(), true, Caller(5151, "/taogate/w2"));
  EXPECT_EQ(Last().reason_code(), "DENIED");
  clock_.Advance(1'000);
  Run(Request());
  EXPECT_EQ(Last().reason_code(), "DENIED");
}

TEST_F(AcquireTest, ExecBetweenRequestAndRedeemGetsNothing) {
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PERMIT, Permit());
  attester_.same_ = absl::FailedPreconditionError("now runs another executable");
  Run(Request());
  EXPECT_EQ(Last().reason_code(), "PEER_CHANGED");
  EXPECT_EQ(grants_.installed_, 0);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 0u);
}

TEST_F(AcquireTest, UnattestableCallerNeverReachesGovernor) {
  attester_.fail_ = absl::PermissionDeniedError("not a governed workload");
  EXPECT_THAT(Run(Request()), ElementsAre(P::REFUSED));
  EXPECT_EQ(Last().reason_code(), "NOT_ATTESTED");
  EXPECT_TRUE(governor_.requests_.empty());
}

TEST_F(AcquireTest, InvalidRequestsRefused) {
  for (auto bad : {"tcp:10.0.0.0/8:5432", "tcp:127.0.0.1:*", "nonsense"}) {
    clock_.Advance(5'000);  // refill: this test is not about the rate limit
    Run(Request(bad));
    EXPECT_EQ(Last().reason_code(), "INVALID") << bad;
  }
  auto req = Request();
  req.set_action_class("db read");
  clock_.Advance(5'000);
  Run(req);
  EXPECT_EQ(Last().reason_code(), "INVALID");
  req = Request();
  req.set_reason("line\nbreak");
  clock_.Advance(5'000);
  Run(req);
  EXPECT_THAT(Last().message(), HasSubstr("control"));
  EXPECT_TRUE(governor_.requests_.empty());
}

TEST_F(AcquireTest, RedeemerRefusalKeepsItsCode) {
  v1::TaoBody body = issuer_.ValidBody();
  body.mutable_binding()->set_workload_path("/taogate/w2");
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PERMIT, issuer_.SignToWire(body));
  Run(Request());
  EXPECT_EQ(Last().reason_code(), "WRONG_CGROUP");
  EXPECT_EQ(grants_.installed_, 0);
}

TEST_F(AcquireTest, AuthorizeReturnsTaoWithoutGrant) {
  std::string wire = Permit();
  governor_.first_ = ScriptedGovernor::Outcome(v1::OUTCOME_PERMIT, wire);
  EXPECT_THAT(Run(Request(), false), ElementsAre(P::ATTESTED, P::AUTHORIZED));
  EXPECT_EQ(Last().tao(), wire);
  EXPECT_EQ(grants_.installed_, 0);
  EXPECT_TRUE(redeemer_.Redeem(wire, Caller()).status.ok());
}

}  // namespace
}  // namespace taogate::agent
