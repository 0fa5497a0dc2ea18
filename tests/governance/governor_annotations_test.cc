// AuthorizationRequest.annotations (issue 15): the caller's context, checked
// by the governor itself and written into the ledger record of the decision
// so an auditor sees it; never a policy selector, never trust-bearing. A
// real taogate-governor over real mTLS on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "governance/governor_testing.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/governance/approval.h"

namespace taogate::governance::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ledger::RecordKind;

constexpr char kNodeA[] = "spiffe://test.example/node/node-a";
constexpr char kUnit[] = "spiffe://test.example/node/node-a/cgroup/system.slice/report.service";

std::string Policy(const GovernorProcess& gov) {
  return StrCat(R"(version: 1
name: annotations-test
roles:
  - id: tool
  - id: dba
actors:
  - identity: )", kAlice, R"(
    roles: [dba]
    approver_keys: [)", ToHex(gov.ApproverPublicKeys().at(kAlice)), R"(]
  - identity: )", kUnit, R"(
    roles: [tool]
  - identity: )", kAgent, R"(
    roles: [tool]
workloads:
  - id: unit
    selectors: {cgroup_paths: [/system.slice]}
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
  - {id: unit-reads, effect: allow, roles: [tool], workloads: [unit], actions: [db.read], targets: [db]}
  - {id: gold-cache, effect: allow, roles: [tool], workloads: [gold], actions: [db.write], targets: [cache]}
  - id: unit-writes
    effect: require_approval
    roles: [tool]
    workloads: [unit]
    actions: [db.write]
    targets: [db]
    approval: {roles: [dba], count: 1}
)");
}

// What node-a's agent forwards for a systemd unit.
v1::AuthorizationRequest Attested(const std::string& action = "db.read") {
  v1::AuthorizationRequest r;
  r.set_action_class(action);
  r.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  r.mutable_target()->set_address("127.0.0.1");
  r.mutable_target()->set_port(5432);
  r.set_reason("nightly report");
  v1::AttestedWorkload* a = r.mutable_attested();
  a->set_node_id("node-a");
  a->set_cgroup_id(888);
  a->set_cgroup_path("/system.slice/report.service");
  a->set_exe_path("/usr/bin/python3");
  a->set_exe_sha256(std::string(64, 'b'));
  return r;
}

void Annotate(v1::AuthorizationRequest& r, const std::string& k, const std::string& v) {
  (*r.mutable_annotations())[k] = v;
}

class GovernorAnnotationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    taogate::testing::WriteFile(gov_.policy_path(), Policy(gov_));
    ASSERT_TRUE(gov_.Start()) << gov_.error();
  }
  v1::Decision Expect(const std::string& who, const v1::AuthorizationRequest& r, grpc::StatusCode code,
                      std::string_view message = "") {
    v1::Decision d;
    grpc::Status s = gov_.Authorize(who, r, &d);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(std::string(message)));
    return d;
  }
  // Records of `kind` (governor stopped first).
  std::vector<ledger::Record> Records(RecordKind kind) {
    gov_.Stop();
    auto all = gov_.LedgerRecords();
    EXPECT_TRUE(all.ok()) << all.status();
    std::vector<ledger::Record> out;
    for (const auto& r : all.ok() ? *all : std::vector<ledger::Record>{})
      if (r.kind == kind) out.push_back(r);
    return out;
  }
  static std::string Field(const ledger::Record& r, std::string_view name) {
    return std::string(r.Field(name).value_or(""));
  }

  GovernorProcess gov_;
};

TEST_F(GovernorAnnotationsTest, AttestedAnnotationsLandInTheIssuedRecord) {
  v1::AuthorizationRequest r = Attested();
  Annotate(r, "ticket", "OPS-1234");
  Annotate(r, "note", "token=abc123 see https://wiki.example/run");
  v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::OK);
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  auto issued = Records(RecordKind::kIssued);
  ASSERT_EQ(issued.size(), 1u);
  // Key order; values summarized as `reason` is (secrets, URLs redacted);
  // the digest covers the exact bytes.
  const std::string exact = std::string("note\0token=abc123 see https://wiki.example/run\0ticket\0OPS-1234\0", 63);
  EXPECT_EQ(Field(issued[0], "annotations"),
            StrCat("sha256:", ToHex(crypto::Sha256(exact)), " note=token=[secret] see [url]; ticket=OPS-1234"));
  EXPECT_EQ(Field(issued[0], "actor"), kUnit);
}

TEST_F(GovernorAnnotationsTest, PendingAndApprovedDecisionsCarryThem) {
  v1::AuthorizationRequest r = Attested("db.write");
  Annotate(r, "ticket", "OPS-77");
  v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::OK);
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PENDING_APPROVAL) << d.reason();
  auto approval = SignApproval(d, true, gov_.ApproverKey(kAlice), NowMs());
  ASSERT_TRUE(approval.ok()) << approval.status();
  grpc::ClientContext ctx;
  v1::Decision after;
  ASSERT_TRUE(gov_.Client(kAlice)->Approve(&ctx, *approval, &after).ok());
  EXPECT_EQ(after.outcome(), v1::OUTCOME_PERMIT);
  auto all = Records(RecordKind::kApprovalRequested);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_THAT(Field(all[0], "annotations"), HasSubstr("ticket=OPS-77"));
  auto issued = Records(RecordKind::kIssued);
  ASSERT_EQ(issued.size(), 1u);
  EXPECT_THAT(Field(issued[0], "annotations"), HasSubstr("ticket=OPS-77"));
}

TEST_F(GovernorAnnotationsTest, MalformedAnnotationsRefusedAndRecorded) {
  struct Case {
    std::string key, value, message;
  };
  const std::vector<Case> cases = {
      {"bad key", "x", "annotations: key 'bad key'"},
      {"-lead", "x", "annotations: key '-lead'"},
      {std::string(64, 'k'), "x", "annotations: key"},
      {"big", std::string(257, 'v'), "annotations: value of 'big' longer than 256"},
      {"bidi", "safe\u202eevil", "annotations: value of 'bidi'"},
      {"ctl", "a\nb", "annotations: value of 'ctl'"},
  };
  for (const auto& c : cases) {
    v1::AuthorizationRequest r = Attested();
    Annotate(r, c.key, c.value);
    v1::Decision d = Expect(kNodeA, r, grpc::StatusCode::INVALID_ARGUMENT, c.message);
    EXPECT_TRUE(d.tao().empty()) << c.key;
  }
  v1::AuthorizationRequest many = Attested();
  for (int i = 0; i < 17; ++i) Annotate(many, StrCat("k", i), "v");
  Expect(kNodeA, many, grpc::StatusCode::INVALID_ARGUMENT, "annotations: at most 16");

  auto denied = Records(RecordKind::kDenied);
  ASSERT_EQ(denied.size(), cases.size() + 1);
  for (const auto& rec : denied) {
    EXPECT_EQ(Field(rec, "reason_code"), "invalid");
    EXPECT_THAT(Field(rec, "error"), StartsWith("annotations: "));
    EXPECT_FALSE(rec.Field("annotations").has_value());  // a refused one is not recorded as given
  }
  EXPECT_TRUE(Records(RecordKind::kIssued).empty());
}

// A workload with its own certificate may annotate too: the annotations are
// recorded but select nothing (here: no label, no namespace from them).
TEST_F(GovernorAnnotationsTest, WorkloadCertificateAnnotationsRecordedNotTrusted) {
  v1::AuthorizationRequest r = Attested();
  r.clear_attested();
  r.mutable_binding()->set_node_id("node-a");
  r.mutable_binding()->set_cgroup_id(888);
  r.set_cgroup_path("/system.slice/report.service");
  Annotate(r, "tier", "gold");
  Annotate(r, "pod_labels/tier", "gold");
  v1::Decision d = Expect(kAgent, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  EXPECT_EQ(d.rule(), "unit-reads");

  r.set_action_class("db.write");
  r.mutable_target()->set_address("127.0.0.2");
  r.mutable_target()->set_port(6379);
  d = Expect(kAgent, r, grpc::StatusCode::OK);
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY) << d.rule();  // gold-cache wants an attested label
  EXPECT_TRUE(d.tao().empty());

  auto issued = Records(RecordKind::kIssued);
  ASSERT_EQ(issued.size(), 1u);
  EXPECT_EQ(Field(issued[0], "actor"), kAgent);
  EXPECT_THAT(Field(issued[0], "annotations"), HasSubstr("pod_labels/tier=gold; tier=gold"));
  auto denied = Records(RecordKind::kDenied);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(Field(denied[0], "reason_code"), "policy");
  EXPECT_THAT(Field(denied[0], "annotations"), HasSubstr("tier=gold"));
}

}  // namespace
}  // namespace taogate::governance::testing
