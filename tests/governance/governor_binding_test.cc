// The requester must not choose where its TAO works:
// real governor, real mTLS, then the real agent-side Redeemer (in-memory
// evidence and grants) given the caller's real cgroup, as the agent's
// SO_PEERCRED lookup would give it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/redeem_fakes.h"
#include "governance/governor_testing.h"
#include "taogate/agent/redeem.h"
#include "taogate/common/crypto.h"
#include "taogate/governance/governor_format.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/tao/codec.h"

namespace taogate::governance::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kAttackerCgroup = 5555;

class GovernorBindingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gov_.Start()) << gov_.error();
    auto b = gov_.SoftwareTrustBundle();
    ASSERT_TRUE(b.ok()) << b.status();
    bundle_ = std::make_unique<keys::TrustBundle>(std::move(*b));
  }
  grpc::Status Request(const v1::AuthorizationRequest& r, v1::Decision* d) {
    return gov_.Authorize(kAgent, r, d);
  }
  // The agent's verdict on `tao` presented from cgroup `path` with id `id`.
  agent::RedeemOutcome RedeemFrom(const std::string& tao, const std::string& path, uint64_t id) {
    agent::fakes::FunctionVerifier verifier([this](const v1::Tao& t, int64_t now) {
      return bundle_->VerifyTao(t, now, 1000, /*strict=*/false).status();
    });
    agent::Redeemer redeemer(
        agent::RedeemConfig{.node_id = "node-a", .governed_root = "/taogate", .cgroup2_mount = "/nonexistent"},
        verifier, evidence_, grants_);
    return redeemer.Redeem(tao, agent::PeerIdentity{.pid = 100, .cgroup_path = path, .cgroup_id = id});
  }
  static v1::TaoBody BodyOf(const v1::Decision& d) {
    auto tao = tao::DecodeTao(d.tao());
    EXPECT_TRUE(tao.ok()) << tao.status();
    if (!tao.ok()) return {};
    auto body = tao::DecodeBody(tao->body());
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? *body : v1::TaoBody();
  }
  void ExpectInvalid(const v1::AuthorizationRequest& r, std::string_view why) {
    v1::Decision d;
    grpc::Status s = Request(r, &d);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(why));
    EXPECT_TRUE(d.tao().empty());
  }

  GovernorProcess gov_;
  std::unique_ptr<keys::TrustBundle> bundle_;
  agent::fakes::MemoryEvidence evidence_;
  agent::fakes::MemoryGrants grants_;
};

// A workload with no rule of its own (/taogate/attacker) declares the path of
// one that has a rule (/taogate/test) and puts its own cgroup id in the
// binding. Whatever the governor answers, the TAO does not open the
// attacker's connect.
TEST_F(GovernorBindingTest, DeclaredPathOfAnotherWorkloadDoesNotBindTheCallersCgroup) {
  v1::AuthorizationRequest r = ReadRequest();
  r.mutable_binding()->set_cgroup_id(kAttackerCgroup);
  v1::Decision d;
  ASSERT_TRUE(Request(r, &d).ok());
  if (d.outcome() != v1::OUTCOME_PERMIT) return;  // refusing is a fine answer
  EXPECT_EQ(BodyOf(d).binding().workload_path(), "/taogate/test");
  auto out = RedeemFrom(d.tao(), "/taogate/attacker", kAttackerCgroup);
  EXPECT_EQ(out.reason_code, agent::reason::kWrongCgroup) << out.status;
  EXPECT_EQ(grants_.installed_, 0);
}

// Control: the workload the rule is for redeems the same kind of TAO.
TEST_F(GovernorBindingTest, TheMatchedWorkloadRedeemsItsTao) {
  v1::Decision d;
  ASSERT_TRUE(Request(ReadRequest(), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  auto out = RedeemFrom(d.tao(), "/taogate/test", 4242);
  EXPECT_TRUE(out.status.ok()) << out.status;
}

// Without a declared path the policy can only match path-free selectors.
TEST_F(GovernorBindingTest, NoDeclaredPathMatchesNoPathSelector) {
  v1::AuthorizationRequest r = ReadRequest();
  r.clear_cgroup_path();
  v1::Decision d;
  ASSERT_TRUE(Request(r, &d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);  // the only read rule selects /taogate/test
}

TEST_F(GovernorBindingTest, NonCanonicalDeclaredPathRefused) {
  v1::AuthorizationRequest r = ReadRequest();
  r.set_cgroup_path("/taogate/test/../attacker");
  ExpectInvalid(r, "cgroup_path");
}

TEST_F(GovernorBindingTest, RequesterChosenWorkloadPathRefused) {
  v1::AuthorizationRequest r = ReadRequest();
  r.mutable_binding()->set_workload_path("/taogate/attacker");
  ExpectInvalid(r, "workload_path");
}

TEST_F(GovernorBindingTest, ShortPodUidRefused) {
  v1::AuthorizationRequest r = ReadRequest();
  r.mutable_binding()->set_cgroup_id(0);
  r.mutable_binding()->set_pod_uid("1");
  ExpectInvalid(r, "canonical pod UID");
}

TEST_F(GovernorBindingTest, UppercasePodUidRefused) {
  v1::AuthorizationRequest r = ReadRequest();
  r.mutable_binding()->set_pod_uid("7D1E1F3A-5B6C-4D7E-8F90-A1B2C3D4E5F6");
  ExpectInvalid(r, "canonical pod UID");
}

TEST_F(GovernorBindingTest, CanonicalPodUidIsBoundWithThePath) {
  v1::AuthorizationRequest r = ReadRequest();
  r.mutable_binding()->set_cgroup_id(0);
  r.mutable_binding()->set_pod_uid("7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6");
  v1::Decision d;
  ASSERT_TRUE(Request(r, &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  v1::TaoBody b = BodyOf(d);
  EXPECT_EQ(b.binding().pod_uid(), "7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6");
  EXPECT_EQ(b.binding().workload_path(), "/taogate/test");
  // A pod elsewhere with the uid in a longer name gets nothing.
  auto out = RedeemFrom(d.tao(), "/taogate/evil-pod7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6", 77);
  EXPECT_EQ(out.reason_code, agent::reason::kWrongCgroup) << out.status;
}

// Approvers sign the intent: it names the bound path (governor_format.h
// section 1), so an approval for one workload's path is not one for another's.
TEST_F(GovernorBindingTest, IntentCoversTheBoundPath) {
  v1::Decision d;
  grpc::ClientContext ctx;
  ASSERT_TRUE(gov_.Client(kWriter)->RequestAuthorization(&ctx, WriteRequest(), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PENDING_APPROVAL);
  crypto::Sha256Hasher h;
  h.Update(kIntentDomain);
  for (const std::string& part : {d.decision_id(), std::string(kWriter), std::string("node-a"),
                                  std::string("4242"), std::string(), std::string("/taogate/test"),
                                  std::string("test"), std::string("db.write"),
                                  std::string("tcp:127.0.0.1:5432"), d.policy_sha256(), std::string("30")}) {
    h.Update(part);
    h.Update(std::string_view("\0", 1));
  }
  auto want = h.Finish();
  EXPECT_EQ(d.intent_sha256(), std::string(reinterpret_cast<const char*>(want.data()), want.size()));
}

// Break-glass takes the same declared attributes: its TAO is bound the same way.
TEST_F(GovernorBindingTest, BreakGlassTaoIsBoundToTheDeclaredPath) {
  v1::BreakGlassRequest b;
  *b.mutable_binding() = WriteRequest().binding();
  b.mutable_binding()->set_cgroup_id(kAttackerCgroup);
  b.set_cgroup_path("/taogate/test");
  b.set_action_class("db.write");
  *b.mutable_target() = WriteRequest().target();
  b.set_incident_id("INC-7");
  b.set_justification("primary down");
  b.set_ttl_seconds(60);
  v1::Decision d;
  grpc::ClientContext ctx;
  ASSERT_TRUE(gov_.Client(kCarol)->BreakGlass(&ctx, b, &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_EQ(BodyOf(d).binding().workload_path(), "/taogate/test");
  auto out = RedeemFrom(d.tao(), "/taogate/attacker", kAttackerCgroup);
  EXPECT_EQ(out.reason_code, agent::reason::kWrongCgroup) << out.status;
}

}  // namespace
}  // namespace taogate::governance::testing
