// The governor trusts attested facts only from node identities (issue 15):
// a real taogate-governor over real mTLS on loopback, node and workload
// client certificates from the test CA. A forged or foreign attestation is
// refused and recorded; an accepted one decides the TAO's binding and actor,
// and only attested facts select the attested-only workload selectors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "governance/governor_testing.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/governance/approval.h"
#include "taogate/tao/codec.h"

namespace taogate::governance::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kNodeA[] = "spiffe://test.example/node/node-a";
constexpr char kReporterSa[] = "spiffe://test.example/ns/shop/sa/reporter";
constexpr char kReportUnit[] =
    "spiffe://test.example/node/node-a/cgroup/system.slice/report.service";
constexpr char kPodUid[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const std::string kGoodExe(64, 'a');

std::string AttestPolicy(const std::string& alice_key) {
  return StrCat(R"(version: 1
name: attest-test
roles:
  - id: tool
  - id: dba
actors:
  - identity: )", kAlice, R"(
    roles: [dba]
    approver_keys: [)", alice_key, R"(]
  - identity: )", kReporterSa, R"(
    roles: [tool]
  - identity: spiffe://test.example/ns/shop/sa/intruder
    roles: [tool]
  - identity: spiffe://test.example/ns/web/sa/reporter
    roles: [tool]
  - identity: )", kReportUnit, R"(
    roles: [tool]
  - identity: )", kAgent, R"(
    roles: [tool]
workloads:
  - id: shop
    selectors: {namespaces: [shop]}
  - id: reporter
    selectors: {service_accounts: [shop/reporter]}
  - id: report-binary
    selectors:
      cgroup_paths: [/system.slice]
      exe_sha256: [)", kGoodExe, R"(]
  - id: gold
    selectors: {pod_labels: {tier: gold}}
targets:
  - id: db
    networks: [{cidrs: [127.0.0.1/32], ports: [5432], protocols: [tcp]}]
  - id: cache
    networks: [{cidrs: [127.0.0.2/32], ports: [6379], protocols: [tcp]}]
action_classes:
  - id: db.read
    ttl: 60s
  - id: db.write
    ttl: 30s
rules:
  - {id: shop-reads, effect: allow, roles: [tool], workloads: [shop], actions: [db.read], targets: [db]}
  - {id: reporter-writes, effect: allow, roles: [tool], workloads: [reporter], actions: [db.write], targets: [db]}
  - {id: binary-cache, effect: allow, roles: [tool], workloads: [report-binary], actions: [db.read], targets: [cache]}
  - {id: gold-cache, effect: allow, roles: [tool], workloads: [gold], actions: [db.write], targets: [cache]}
  - id: shop-writes-cache
    effect: require_approval
    roles: [tool]
    workloads: [shop]
    actions: [db.write]
    targets: [cache]
    approval: {roles: [dba], count: 1}
)");
}

std::string AliceKey(const GovernorProcess& gov) {
  return ToHex(gov.ApproverPublicKeys().at(kAlice));
}

// What node-a's agent attests for the shop/reporter pod.
v1::AuthorizationRequest PodRequest(const std::string& action = "db.read") {
  v1::AuthorizationRequest r;
  r.set_action_class(action);
  r.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  r.mutable_target()->set_address("127.0.0.1");
  r.mutable_target()->set_port(5432);
  r.set_reason("nightly report");
  v1::AttestedWorkload* a = r.mutable_attested();
  a->set_node_id("node-a");
  a->set_cgroup_id(777);
  a->set_cgroup_path(StrCat("/kubepods/pod", kPodUid));
  a->set_pod_uid(kPodUid);
  a->set_namespace_("shop");
  a->set_pod_name("reporter-7d9");
  a->set_service_account("reporter");
  a->set_exe_path("/usr/bin/python3");
  a->set_exe_sha256(std::string(64, 'b'));
  a->set_uid(1000);
  a->set_pid(4321);
  return r;
}

// What node-a's agent attests for a systemd unit (no Kubernetes).
v1::AuthorizationRequest UnitRequest(const std::string& exe_sha256) {
  v1::AuthorizationRequest r = PodRequest();
  r.mutable_target()->set_address("127.0.0.2");
  r.mutable_target()->set_port(6379);
  v1::AttestedWorkload* a = r.mutable_attested();
  a->set_cgroup_id(888);
  a->set_cgroup_path("/system.slice/report.service");
  a->clear_pod_uid();
  a->clear_namespace_();
  a->clear_pod_name();
  a->clear_service_account();
  a->set_exe_sha256(exe_sha256);
  return r;
}

class GovernorAttestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    taogate::testing::WriteFile(gov_.policy_path(), AttestPolicy(AliceKey(gov_)));
    ASSERT_TRUE(gov_.Start()) << gov_.error();
  }
  v1::Decision Expect(const std::string& who, const v1::AuthorizationRequest& r,
                      grpc::StatusCode code, std::string_view message = "") {
    v1::Decision d;
    grpc::Status s = gov_.Authorize(who, r, &d);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(std::string(message)));
    return d;
  }
  static v1::TaoBody BodyOf(const v1::Decision& d) {
    auto tao = tao::DecodeTao(d.tao());
    EXPECT_TRUE(tao.ok()) << tao.status();
    auto body = tao.ok() ? tao::DecodeBody(tao->body()) : absl::StatusOr<v1::TaoBody>();
    EXPECT_TRUE(body.ok());
    return body.ok() ? *body : v1::TaoBody();
  }
  // DENIED records whose error contains `error`.
  std::vector<ledger::Record> Denied(std::string_view error) {
    gov_.Stop();
    auto records = gov_.LedgerRecords();
    EXPECT_TRUE(records.ok()) << records.status();
    std::vector<ledger::Record> out;
    for (const auto& rec : records.ok() ? *records : std::vector<ledger::Record>{})
      if (rec.kind == ledger::RecordKind::kDenied &&
          rec.Field("error").value_or("").find(error) != std::string_view::npos)
        out.push_back(rec);
    return out;
  }

  GovernorProcess gov_;
};

TEST_F(GovernorAttestTest, ForgedAttestationFromWorkloadCertificateRefused) {
  v1::Decision d = Expect(kAgent, PodRequest(), grpc::StatusCode::PERMISSION_DENIED,
                          "attestation from a non-node identity");
  EXPECT_TRUE(d.tao().empty());
  // Not even as the very identity the attestation would derive.
  Expect(kReporterSa, PodRequest(), grpc::StatusCode::PERMISSION_DENIED,
         "attestation from a non-node identity");
  // Nor as something shaped like a node's workload.
  Expect(kReportUnit, UnitRequest(kGoodExe), grpc::StatusCode::PERMISSION_DENIED,
         "attestation from a non-node identity");
}

TEST_F(GovernorAttestTest, NodeAttestingAPodOfAnotherNodeRefused) {
  v1::AuthorizationRequest r = PodRequest();
  r.mutable_attested()->set_node_id("node-b");
  v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::PERMISSION_DENIED,
                          "node node-a attested a workload of node node-b");
  EXPECT_TRUE(d.tao().empty());
}

TEST_F(GovernorAttestTest, BothRefusalsAreLedgerDeniedRecords) {
  Expect(kAgent, PodRequest(), grpc::StatusCode::PERMISSION_DENIED);
  v1::AuthorizationRequest r = PodRequest();
  r.mutable_attested()->set_node_id("node-b");
  Expect(kNodeA, r, grpc::StatusCode::PERMISSION_DENIED);

  auto forged = Denied("attestation from a non-node identity");
  ASSERT_EQ(forged.size(), 1u);
  EXPECT_EQ(forged[0].Field("reason_code"), "attestation");
  EXPECT_EQ(forged[0].Field("actor"), kAgent);  // who presented it
  EXPECT_EQ(forged[0].Field("node_id"), "node-a");  // what it claimed
  EXPECT_EQ(forged[0].Field("event"), "attested");
  auto foreign = Denied("node node-a attested a workload of node node-b");
  ASSERT_EQ(foreign.size(), 1u);
  EXPECT_EQ(foreign[0].Field("reason_code"), "attestation");
  EXPECT_EQ(foreign[0].Field("actor"), kNodeA);
  EXPECT_EQ(foreign[0].Field("node_id"), "node-b");
}

// The request's own binding, path and labels are ignored: the TAO binds the
// attested workload and names the derived identity.
TEST_F(GovernorAttestTest, TaoBindsTheAttestedWorkloadAndItsDerivedActor) {
  v1::AuthorizationRequest r = PodRequest();
  r.mutable_binding()->set_node_id("node-z");
  r.mutable_binding()->set_cgroup_id(1);
  r.set_cgroup_path("/elsewhere");
  (*r.mutable_pod_labels())["tier"] = "gold";
  v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::OK);
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  EXPECT_EQ(d.rule(), "shop-reads");
  EXPECT_EQ(d.requester(), kReporterSa);
  v1::TaoBody body = BodyOf(d);
  EXPECT_EQ(body.actor(), kReporterSa);
  EXPECT_EQ(body.binding().node_id(), "node-a");
  EXPECT_EQ(body.binding().cgroup_id(), 777u);
  EXPECT_EQ(body.binding().pod_uid(), kPodUid);
  EXPECT_EQ(body.binding().workload_path(), StrCat("/kubepods/pod", kPodUid));

  // The node that asked follows the decision and gets the TAO; the derived
  // identity's own certificate sees the decision without it.
  for (const auto& [who, sees_tao] : {std::pair{kNodeA, true}, std::pair{kReporterSa, false}}) {
    grpc::ClientContext ctx;
    v1::GetDecisionRequest g;
    g.set_decision_id(d.decision_id());
    v1::Decision got;
    ASSERT_TRUE(gov_.Client(who)->GetDecision(&ctx, g, &got).ok());
    EXPECT_EQ(!got.tao().empty(), sees_tao) << who;
  }
  gov_.Stop();
  auto records = gov_.LedgerRecords();
  ASSERT_TRUE(records.ok());
  auto it = std::find_if(records->rbegin(), records->rend(), [](const ledger::Record& rec) {
    return rec.kind == ledger::RecordKind::kIssued;
  });
  ASSERT_NE(it, records->rend());
  const ledger::Record& issued = *it;
  EXPECT_EQ(issued.Field("actor"), kReporterSa);
  EXPECT_EQ(issued.Field("event"), "attested");
  EXPECT_EQ(issued.Field("workload"), StrCat("/kubepods/pod", kPodUid));
}

TEST_F(GovernorAttestTest, ServiceAccountSelectorMatchesOnlyThatAccount) {
  v1::Decision d = Expect(kNodeA, PodRequest("db.write"), grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  EXPECT_EQ(d.rule(), "reporter-writes");
  v1::AuthorizationRequest r = PodRequest("db.write");
  r.mutable_attested()->set_service_account("intruder");  // same namespace
  d = Expect(kNodeA, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
  // ... but the namespace rule still lets it read.
  r.set_action_class("db.read");
  d = Expect(kNodeA, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  EXPECT_EQ(BodyOf(d).actor(), "spiffe://test.example/ns/shop/sa/intruder");
}

// A pending attested decision: the derived identity is the requester
// approvers see, the node that asked follows it and alone gets the TAO.
TEST_F(GovernorAttestTest, NodeFollowsAnApprovedAttestedDecision) {
  v1::AuthorizationRequest r = UnitRequest(kGoodExe);
  *r.mutable_attested() = PodRequest().attested();
  r.set_action_class("db.write");
  v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::OK);
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PENDING_APPROVAL) << d.reason();
  EXPECT_EQ(d.requester(), kReporterSa);
  auto approval = SignApproval(d, true, gov_.ApproverKey(kAlice), NowMs());
  ASSERT_TRUE(approval.ok()) << approval.status();
  {
    grpc::ClientContext ctx;
    v1::Decision after;
    ASSERT_TRUE(gov_.Client(kAlice)->Approve(&ctx, *approval, &after).ok());
    EXPECT_EQ(after.outcome(), v1::OUTCOME_PERMIT);
    EXPECT_TRUE(after.tao().empty());  // the approver is not the caller
  }
  grpc::ClientContext ctx;
  v1::GetDecisionRequest g;
  g.set_decision_id(d.decision_id());
  v1::Decision got;
  ASSERT_TRUE(gov_.Client(kNodeA)->GetDecision(&ctx, g, &got).ok());
  ASSERT_EQ(got.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_EQ(BodyOf(got).actor(), kReporterSa);
  EXPECT_EQ(BodyOf(got).binding().cgroup_id(), 777u);
}

TEST_F(GovernorAttestTest, NamespaceSelectorRefusesAnotherNamespace) {
  v1::AuthorizationRequest r = PodRequest();
  r.mutable_attested()->set_namespace_("web");  // a listed actor, in no rule's workload
  v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
}

TEST_F(GovernorAttestTest, ExeDigestSelectsTheBinary) {
  v1::Decision d = Expect(kNodeA, UnitRequest(kGoodExe), grpc::StatusCode::OK);
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  EXPECT_EQ(d.rule(), "binary-cache");
  EXPECT_EQ(BodyOf(d).actor(), kReportUnit);
  EXPECT_EQ(BodyOf(d).binding().workload_path(), "/system.slice/report.service");
  d = Expect(kNodeA, UnitRequest(std::string(64, 'c')), grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
}

TEST_F(GovernorAttestTest, AttestedLabelsSelect) {
  v1::AuthorizationRequest r = UnitRequest(kGoodExe);
  r.set_action_class("db.write");
  v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
  (*r.mutable_attested()->mutable_pod_labels())["tier"] = "gold";
  d = Expect(kNodeA, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  EXPECT_EQ(d.rule(), "gold-cache");
}

// A workload with its own certificate may not claim labels.
TEST_F(GovernorAttestTest, WorkloadClaimingPodLabelsRefused) {
  v1::AuthorizationRequest r = UnitRequest(kGoodExe);
  r.clear_attested();
  r.set_action_class("db.write");
  r.mutable_binding()->set_node_id("node-a");
  r.mutable_binding()->set_cgroup_id(888);
  (*r.mutable_pod_labels())["tier"] = "gold";
  v1::Decision d = Expect(kAgent, r, grpc::StatusCode::INVALID_ARGUMENT,
                          "pod_labels are attested by the node agent only");
  EXPECT_TRUE(d.tao().empty());
}

// Break-glass requests may not claim labels either.
TEST_F(GovernorAttestTest, BreakGlassClaimingPodLabelsRefused) {
  v1::BreakGlassRequest b;
  b.mutable_binding()->set_node_id("node-a");
  b.mutable_binding()->set_cgroup_id(888);
  b.set_action_class("db.write");
  *b.mutable_target() = UnitRequest(kGoodExe).target();
  b.set_incident_id("INC-1");
  b.set_justification("outage");
  b.set_ttl_seconds(60);
  (*b.mutable_pod_labels())["tier"] = "gold";
  grpc::ClientContext ctx;
  v1::Decision d;
  grpc::Status s = gov_.Client(kAgent)->BreakGlass(&ctx, b, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("pod_labels are attested by the node agent only"));
}

// A workload's declared cgroup_path satisfies the path selector but never the
// attested digest next to it.
TEST_F(GovernorAttestTest, DeclaredCgroupPathCannotSelectAttestedOnlySelector) {
  v1::AuthorizationRequest r = UnitRequest(kGoodExe);
  r.clear_attested();
  r.mutable_binding()->set_node_id("node-a");
  r.mutable_binding()->set_cgroup_id(888);
  r.set_cgroup_path("/system.slice/report.service");
  v1::Decision d = Expect(kAgent, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
  EXPECT_TRUE(d.tao().empty());
}

TEST_F(GovernorAttestTest, HalfAKubernetesIdentityRefused) {
  v1::AuthorizationRequest r = PodRequest();
  r.mutable_attested()->clear_service_account();
  Expect(kNodeA, r, grpc::StatusCode::INVALID_ARGUMENT, "attested.namespace");
  r = PodRequest();
  r.mutable_attested()->set_cgroup_path("/kubepods/../system.slice");
  Expect(kNodeA, r, grpc::StatusCode::INVALID_ARGUMENT, "attested.cgroup_path");
}

// With --trust-domain, a node certificate of another trust domain is no node.
TEST(GovernorAttestTrustDomainTest, NodeOfAnotherTrustDomainRefused) {
  GovernorProcess gov;
  taogate::testing::WriteFile(gov.policy_path(), AttestPolicy(AliceKey(gov)));
  ASSERT_TRUE(gov.Start({"--trust-domain", "test.example"})) << gov.error();
  v1::Decision d;
  grpc::Status s = gov.Authorize("spiffe://other.example/node/node-a", PodRequest(), &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("attestation from a non-node identity"));
  s = gov.Authorize(kNodeA, PodRequest(), &d);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
}

}  // namespace
}  // namespace taogate::governance::testing
