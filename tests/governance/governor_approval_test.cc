// Human-in-the-loop approvals and break-glass, as attacks: self-approval,
// replay, expiry, wrong role, out-of-scope break-glass.
#include <gtest/gtest.h>

#include <thread>

#include "governance/governor_testing.h"
#include "taogate/governance/approval.h"
#include "taogate/ledger/ledger.h"

namespace taogate::governance::testing {
namespace {

class GovernorApprovalTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(gov_.Start()) << gov_.error(); }

  v1::Decision Pending(const std::string& who = kWriter) {
    v1::Decision d;
    grpc::ClientContext ctx;
    EXPECT_TRUE(gov_.Client(who)->RequestAuthorization(&ctx, WriteRequest(), &d).ok());
    EXPECT_EQ(d.outcome(), v1::OUTCOME_PENDING_APPROVAL);
    return d;
  }
  v1::ApprovalRequest Sign(const v1::Decision& d, const std::string& approver, bool approve = true,
                           int64_t at = 0) {
    auto r = SignApproval(d, approve, gov_.ApproverKey(approver), at ? at : NowMs());
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }
  // Approvals may be submitted by anyone (e.g. an approval portal): the
  // signature, not the channel, names the approver.
  grpc::Status Submit(const v1::ApprovalRequest& a, v1::Decision* out, bool approve = true,
                      const std::string& via = kAdmin) {
    grpc::ClientContext ctx;
    auto stub = gov_.Client(via);
    return approve ? stub->Approve(&ctx, a, out) : stub->Reject(&ctx, a, out);
  }
  v1::Decision Get(const std::string& id, const std::string& who = kWriter) {
    v1::GetDecisionRequest g;
    g.set_decision_id(id);
    v1::Decision d;
    grpc::ClientContext ctx;
    EXPECT_TRUE(gov_.Client(who)->GetDecision(&ctx, g, &d).ok());
    return d;
  }

  GovernorProcess gov_;
};

TEST_F(GovernorApprovalTest, TwoDistinctDbasApproveThenTaoIsIssued) {
  v1::Decision d = Pending();
  EXPECT_EQ(d.approvals_needed(), 2u);
  EXPECT_EQ(d.intent_sha256().size(), 32u);
  // The requester watches the decision while it is pending.
  std::vector<v1::Decision> seen;
  std::thread watcher([&] {
    v1::GetDecisionRequest g;
    g.set_decision_id(d.decision_id());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto reader = gov_.Client(kWriter)->WatchDecision(&ctx, g);
    v1::Decision m;
    while (reader->Read(&m)) seen.push_back(m);
  });
  v1::Decision out;
  ASSERT_TRUE(Submit(Sign(d, kAlice), &out).ok());
  EXPECT_EQ(out.outcome(), v1::OUTCOME_PENDING_APPROVAL);
  EXPECT_EQ(out.approvals_given(), 1u);
  ASSERT_TRUE(Submit(Sign(d, kBob), &out).ok());
  EXPECT_EQ(out.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_TRUE(out.tao().empty()) << "the TAO goes to the requester only";
  v1::Decision mine = Get(d.decision_id());
  EXPECT_EQ(mine.outcome(), v1::OUTCOME_PERMIT);
  v1::Tao tao;
  ASSERT_TRUE(tao.ParseFromString(mine.tao()));
  watcher.join();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().outcome(), v1::OUTCOME_PERMIT);
  EXPECT_FALSE(seen.back().tao().empty());
}

TEST_F(GovernorApprovalTest, SelfApprovalIsRefused) {
  v1::Decision d = Pending(kOps);  // ops is a writer and a dba
  v1::Decision out;
  auto s = Submit(Sign(d, kOps), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(Get(d.decision_id(), kOps).approvals_given(), 0u);
}

TEST_F(GovernorApprovalTest, ReplayedApprovalIsRefusedAndOneApproverCountsOnce) {
  v1::Decision d = Pending();
  auto a = Sign(d, kAlice);
  v1::Decision out;
  ASSERT_TRUE(Submit(a, &out).ok());
  auto s = Submit(a, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "approval replayed");
  s = Submit(Sign(d, kAlice), &out);  // fresh nonce, same approver
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Get(d.decision_id()).outcome(), v1::OUTCOME_PENDING_APPROVAL);
  EXPECT_EQ(Get(d.decision_id()).approvals_given(), 1u);
}

TEST_F(GovernorApprovalTest, ExpiredApprovalIsRefused) {
  v1::Decision d = Pending();
  v1::Decision out;
  auto s = Submit(Sign(d, kAlice, true, NowMs() - 10 * 60 * 1000), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "approval expired");
}

TEST_F(GovernorApprovalTest, ForgedOrMismatchedApprovalsAreRefused) {
  v1::Decision d = Pending();
  v1::Decision out;
  auto a = Sign(d, kAlice);
  a.set_issued_at_ms(a.issued_at_ms() + 1);  // signature no longer covers it
  EXPECT_EQ(Submit(a, &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::Decision other = Pending();
  auto b = Sign(other, kAlice);
  b.set_decision_id(d.decision_id());  // approval for another decision
  EXPECT_FALSE(Submit(b, &out).ok());
  // Verdict is signed: an approval cannot be replayed as a rejection.
  EXPECT_EQ(Submit(Sign(d, kBob), &out, /*approve=*/false).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Get(d.decision_id()).approvals_given(), 0u);
}

TEST_F(GovernorApprovalTest, ApproverWithoutTheRoleIsRefused) {
  v1::Decision d = Pending();
  v1::Decision out;
  auto s = Submit(Sign(d, kCarol), &out);  // oncall, not dba
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
}

TEST_F(GovernorApprovalTest, RejectionEndsTheDecision) {
  v1::Decision d = Pending();
  v1::Decision out;
  ASSERT_TRUE(Submit(Sign(d, kAlice, false), &out, false).ok());
  EXPECT_EQ(out.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_FALSE(Submit(Sign(d, kBob), &out).ok());
  EXPECT_TRUE(Get(d.decision_id()).tao().empty());
}

TEST(GovernorApprovalWindowTest, PendingDecisionExpiresAndLateApprovalsAreRefused) {
  GovernorProcess gov;
  auto config = gov.dir() / "governor.yaml";
  taogate::testing::WriteFile(config, "approval_window_s: 1\ninstance: expiry-test\n");
  ASSERT_TRUE(gov.Start({"--config", config.string()})) << gov.error();
  v1::Decision d;
  grpc::ClientContext c1;
  ASSERT_TRUE(gov.Client(kWriter)->RequestAuthorization(&c1, WriteRequest(), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PENDING_APPROVAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto a = SignApproval(d, true, gov.ApproverKey(kAlice), NowMs());
  v1::Decision out;
  grpc::ClientContext c2;
  auto s = gov.Client(kAlice)->Approve(&c2, *a, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  v1::GetDecisionRequest g;
  g.set_decision_id(d.decision_id());
  grpc::ClientContext c3;
  ASSERT_TRUE(gov.Client(kWriter)->GetDecision(&c3, g, &out).ok());
  EXPECT_EQ(out.outcome(), v1::OUTCOME_EXPIRED);
  EXPECT_TRUE(out.tao().empty());
}

TEST(GovernorConfigTest, UnknownConfigKeyIsRefusedWithItsLine) {
  GovernorProcess gov;
  auto config = gov.dir() / "governor.yaml";
  taogate::testing::WriteFile(config, "instance: x\napproval_windw_s: 1\n");
  EXPECT_FALSE(gov.Start({"--config", config.string()}));
  EXPECT_NE(gov.error().find("governor.yaml:2: unknown key 'approval_windw_s'"), std::string::npos)
      << gov.error();
}

TEST_F(GovernorApprovalTest, BreakGlassOutsideScopeIsRefused) {
  v1::BreakGlassRequest b;
  *b.mutable_binding() = WriteRequest().binding();
  b.set_cgroup_path("/taogate/test");
  b.set_action_class("db.read");  // the scope covers db.write only
  *b.mutable_target() = WriteRequest().target();
  b.set_incident_id("INC-1");
  b.set_justification("primary down");
  b.set_ttl_seconds(60);
  v1::Decision out;
  grpc::ClientContext c1;
  EXPECT_EQ(gov_.Client(kCarol)->BreakGlass(&c1, b, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  b.set_action_class("db.write");
  grpc::ClientContext c2;  // right scope, wrong role
  EXPECT_EQ(gov_.Client(kAgent)->BreakGlass(&c2, b, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  b.set_ttl_seconds(3600);  // beyond max_ttl 5m
  grpc::ClientContext c3;
  EXPECT_EQ(gov_.Client(kCarol)->BreakGlass(&c3, b, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  b.set_ttl_seconds(60);
  b.set_justification("");  // structured reason is mandatory
  grpc::ClientContext c4;
  EXPECT_EQ(gov_.Client(kCarol)->BreakGlass(&c4, b, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GovernorApprovalTest, BreakGlassInsideScopeIsIssuedAndReviewRequired) {
  v1::BreakGlassRequest b;
  *b.mutable_binding() = WriteRequest().binding();
  b.set_cgroup_path("/taogate/test");
  b.set_action_class("db.write");
  *b.mutable_target() = WriteRequest().target();
  b.set_incident_id("INC-42");
  b.set_justification("orders primary is corrupt, manual fix");
  b.set_ttl_seconds(120);
  v1::Decision out;
  grpc::ClientContext c1;
  ASSERT_TRUE(gov_.Client(kCarol)->BreakGlass(&c1, b, &out).ok());
  EXPECT_EQ(out.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_TRUE(out.review_required());
  v1::Tao tao;
  ASSERT_TRUE(tao.ParseFromString(out.tao()));
  v1::ReviewRequest r;
  r.set_decision_id(out.decision_id());
  r.set_verdict("accepted");
  v1::ReviewResponse rr;
  grpc::ClientContext c2;  // only admins review, never the breaker
  EXPECT_EQ(gov_.Client(kCarol)->Review(&c2, r, &rr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext c3;
  ASSERT_TRUE(gov_.Client(kAdmin)->Review(&c3, r, &rr).ok());
  gov_.Stop();
  // The ledger has the review-required issuance and the review.
  auto records = gov_.LedgerRecords();
  ASSERT_TRUE(records.ok()) << records.status();
  int issued = 0, reviewed = 0;
  for (const ledger::Record& rec : *records) {
    if (rec.kind != ledger::RecordKind::kBreakGlass) continue;
    EXPECT_EQ(rec.Field("decision_id"), out.decision_id());
    if (rec.Field("verdict") == "review_required") {
      ++issued;
      EXPECT_EQ(rec.Field("ticket"), "INC-42");
      EXPECT_EQ(rec.seq, out.ledger_seq());
      // Free text is stored as hash + redacted summary, never verbatim alone.
      EXPECT_EQ(rec.Field("reason").value_or("").substr(0, 7), "sha256:");
    }
    if (rec.Field("verdict") == "accepted") ++reviewed;
  }
  EXPECT_EQ(issued, 1);
  EXPECT_EQ(reviewed, 1);
}

}  // namespace
}  // namespace taogate::governance::testing
