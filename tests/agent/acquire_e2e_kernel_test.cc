// Acquire end to end with every part real (root): a workload in a governed
// cgroup runs `taogatectl acquire` (no certificate, no cgroup id, no node
// name); the real taogate-agent attests it and forwards to a real
// taogate-governor process (software keys, mTLS on loopback, node
// certificate spiffe://test.example/node/node-test) that evaluates its own
// policy, records its decision and signs the TAO; the agent redeems it into
// the real kernel gate. Each test is an attack or an outcome checked in the
// kernel (connects), the governor's ledger and the agent's ledger.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/agent_governor.h"
#include "agent/agent_harness.h"
#include "governance/governor_testing.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/governance/approval.h"

namespace taogate::agent::testing {
namespace {

namespace gt = governance::testing;
using ledger::RecordKind;

std::string FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ToHex(crypto::Sha256(ss.str()));
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

class AcquireE2eKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    w1_ = MakeWorkload("w1");
    ctl_ = std::filesystem::canonical(taogate::testing::BinPath("taogatectl")).string();
    gov_ = std::make_unique<gt::GovernorProcess>();
    taogate::testing::WriteFile(gov_->policy_path(), Policy());
    ASSERT_TRUE(gov_->Start()) << gov_->error();
    // The agent trusts this governor's root, and presents a node certificate.
    auto conn = ConnectToGovernor(*gov_, dir_->path().string(), node_id_);
    ASSERT_TRUE(conn.ok()) << conn.status();
    StartAgent(*conn);
  }
  void TearDown() override {
    if (agent_running()) KillAgent();
    gov_.reset();  // SIGTERM and reap
    AgentTest::TearDown();
  }

  // The workload's identity as the governor derives it from the attestation.
  std::string Derived() const { return StrCat("spiffe://test.example/node/", node_id_, "/cgroup", W1()); }
  std::string W1() const { return governed_rel_ + "/w1"; }

  // reporter: w1 running the real taogatectl (digest and path); db.read is
  // allowed, db.write needs one dba. db.admin is allowed to w1 only when it
  // runs another binary (by digest, or by path): never this one.
  std::string Policy() const {
    return StrCat(R"(version: 1
name: acquire-e2e
roles:
  - id: tool
  - id: dba
actors:
  - identity: )", gt::kAlice, R"(
    roles: [dba]
    approver_keys: [)", ToHex(gov_->ApproverPublicKeys().at(gt::kAlice)), R"(]
  - identity: )", Derived(), R"(
    roles: [tool]
workloads:
  - id: reporter
    selectors:
      cgroup_paths: [)", W1(), R"(]
      exe_sha256: [)", FileSha256(ctl_), R"(]
      exe_paths: [)", ctl_, R"(]
  - id: other-digest
    selectors:
      cgroup_paths: [)", W1(), R"(]
      exe_sha256: [)", std::string(64, 'c'), R"(]
  - id: other-path
    selectors:
      cgroup_paths: [)", W1(), R"(]
      exe_paths: [/opt/other/bin/report]
targets:
  - id: db
    networks: [{cidrs: [127.0.0.1/32], ports: [)", protected_->port(), R"(], protocols: [tcp]}]
action_classes:
  - {id: db.read, ttl: 60s}
  - {id: db.write, ttl: 60s}
  - {id: db.admin, ttl: 60s}
rules:
  - {id: reporter-reads, effect: allow, roles: [tool], workloads: [reporter], actions: [db.read], targets: [db]}
  - id: reporter-writes
    effect: require_approval
    roles: [tool]
    workloads: [reporter]
    actions: [db.write]
    targets: [db]
    approval: {roles: [dba], count: 1}
  - {id: other-admin, effect: allow, roles: [tool], workloads: [other-digest, other-path], actions: [db.admin], targets: [db]}
)");
  }

  // Inside w1: `taogatectl acquire` for the protected port (its JSON lines
  // also go to acquire.out as they stream), its exit code, then two connects.
  std::string AcquireThenConnectTwice(const std::string& action, const std::string& flags = "") {
    std::string d = dir_->path().string();
    std::string port = std::to_string(protected_->port());
    std::string script = StrCat(ctl_, " acquire tcp:127.0.0.1:", port, " --action ", action,
                                " --reason 'nightly report' --timeout-ms 20000 --socket ", workload_sock_, " ",
                                flags, " >", d, "/acquire.out 2>&1; echo RC=$?; cat ", d, "/acquire.out; ",
                                WorkloadBin(), " connect 127.0.0.1 ", port, "; ", WorkloadBin(),
                                " connect 127.0.0.1 ", port, "\n");
    taogate::testing::WriteFile(d + "/script.sh", script);
    return RunIn("w1", {"exec", "/bin/sh", d + "/script.sh"}, 30'000).out;
  }
  // The governor's records of `kind`. Stops the agent (whose open watch
  // streams would hold the governor's shutdown for seconds) and the
  // governor: both ledgers are read offline.
  std::vector<ledger::Record> GovernorRecords(RecordKind kind) {
    KillAgent();
    gov_->Stop();
    auto all = gov_->LedgerRecords();
    EXPECT_TRUE(all.ok()) << all.status();
    std::vector<ledger::Record> out;
    for (const auto& r : all.ok() ? *all : std::vector<ledger::Record>{})
      if (r.kind == kind) out.push_back(r);
    return out;
  }
  static std::string Field(const ledger::Record& r, std::string_view name) {
    return std::string(r.Field(name).value_or(""));
  }
  void ExpectOneConnectOnly(const std::string& out) {
    EXPECT_NE(out.find("\"phase\":\"GRANTED\""), std::string::npos) << out;
    EXPECT_NE(out.find("RC=0"), std::string::npos) << out;
    EXPECT_EQ(Count(out, "CONNECT OK"), 1u) << out;
    EXPECT_NE(out.find("CONNECT ERR EPERM"), std::string::npos) << out;
    EXPECT_EQ(protected_->accepted(), 1);
  }
  void ExpectNothingGranted(const std::string& out, const std::string& code) {
    EXPECT_NE(out.find(StrCat("\"reason_code\":\"", code, "\"")), std::string::npos) << out;
    EXPECT_NE(out.find("RC=1"), std::string::npos) << out;
    EXPECT_EQ(Count(out, "CONNECT OK"), 0u) << out;
    EXPECT_EQ(Count(out, "CONNECT ERR EPERM"), 2u) << out;
    EXPECT_EQ(protected_->accepted(), 0);
    EXPECT_TRUE(Find(RecordKind::kConsumed).empty());
  }

  uint64_t w1_ = 0;
  std::string ctl_;
  std::unique_ptr<gt::GovernorProcess> gov_;
};

TEST_F(AcquireE2eKernelTest, GrantedOnceAndBothLedgersAccountForIt) {
  std::string out = AcquireThenConnectTwice("db.read");
  ExpectOneConnectOnly(out);
  auto consumed = Find(RecordKind::kConsumed);
  ASSERT_EQ(consumed.size(), 1u);
  const std::string tao_id = Field(consumed[0], "tao_id");
  ASSERT_TRUE(WaitFor(RecordKind::kExercised, "tao_id", tao_id));
  auto exercised = Find(RecordKind::kExercised, "tao_id", tao_id);
  ASSERT_EQ(exercised.size(), 1u);
  EXPECT_LT(consumed[0].seq, exercised[0].seq);
  EXPECT_EQ(Field(consumed[0], "workload"), W1());
  auto issued = GovernorRecords(RecordKind::kIssued);
  ASSERT_EQ(issued.size(), 1u);
  const ledger::Record& g = issued[0];
  EXPECT_EQ(Field(g, "tao_id"), tao_id);
  EXPECT_EQ(Field(consumed[0], "issued_seq"), std::to_string(g.seq));
  EXPECT_EQ(Field(g, "actor"), Derived());
  EXPECT_EQ(Field(g, "event"), "attested");
  EXPECT_EQ(Field(g, "node_id"), node_id_);
  EXPECT_EQ(Field(g, "cgroup_id"), std::to_string(w1_));
  EXPECT_EQ(Field(g, "workload"), W1());
  EXPECT_EQ(Field(g, "rule"), "reporter-reads");
}

TEST_F(AcquireE2eKernelTest, ApprovalThroughTheGovernorThenGranted) {
  auto acquire = std::async(std::launch::async, [&] { return AcquireThenConnectTwice("db.write"); });
  // The decision id streams with PENDING_APPROVAL; an approver signs it.
  std::string id;
  const std::string path = dir_->path().string() + "/acquire.out";
  for (int i = 0; i < 200 && id.empty(); ++i) {
    std::string so_far = taogate::testing::ReadFile(path);
    size_t at = so_far.find("\"phase\":\"PENDING_APPROVAL\"");
    size_t key = at == std::string::npos ? at : so_far.find("\"decision_id\":\"");
    if (key != std::string::npos && key + 47 < so_far.size() && so_far[key + 47] == '"')
      id = so_far.substr(key + 15, 32);
    if (id.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(id.size(), 32u) << taogate::testing::ReadFile(path);
  v1::Decision pending;
  {
    grpc::ClientContext ctx;
    v1::GetDecisionRequest g;
    g.set_decision_id(id);
    ASSERT_TRUE(gov_->Client(gt::kAlice)->GetDecision(&ctx, g, &pending).ok());
  }
  EXPECT_EQ(pending.outcome(), v1::OUTCOME_PENDING_APPROVAL);
  EXPECT_EQ(pending.requester(), Derived());
  auto approval = governance::SignApproval(pending, true, gov_->ApproverKey(gt::kAlice), gt::NowMs());
  ASSERT_TRUE(approval.ok()) << approval.status();
  grpc::ClientContext ctx;
  v1::Decision after;
  grpc::Status s = gov_->Client(gt::kAlice)->Approve(&ctx, *approval, &after);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::string out = acquire.get();
  EXPECT_NE(out.find("\"phase\":\"PENDING_APPROVAL\""), std::string::npos) << out;
  ExpectOneConnectOnly(out);
  auto issued = GovernorRecords(RecordKind::kIssued);
  ASSERT_EQ(issued.size(), 1u);
  EXPECT_EQ(Field(issued[0], "approvals"), "1");
  EXPECT_EQ(Field(issued[0], "decision_id"), id);
}

// Same cgroup, but the rules for db.admin name another binary (by digest,
// by path): the attested taogatectl matches neither.
TEST_F(AcquireE2eKernelTest, ExeSelectorOfAnotherBinaryRefusedNothingGranted) {
  std::string out = AcquireThenConnectTwice("db.admin");
  ExpectNothingGranted(out, "DENIED");
  EXPECT_TRUE(GovernorRecords(RecordKind::kIssued).empty());
  auto denied = GovernorRecords(RecordKind::kDenied);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(Field(denied[0], "actor"), Derived());
  EXPECT_EQ(Field(denied[0], "reason_code"), "policy");
}

TEST_F(AcquireE2eKernelTest, GovernorKilledIsUnavailableGateStillDenies) {
  ASSERT_EQ(kill(gov_->pid(), SIGKILL), 0);
  gov_->Stop();  // reaps it
  std::string out = AcquireThenConnectTwice("db.read");
  ExpectNothingGranted(out, "UNAVAILABLE");
}

TEST_F(AcquireE2eKernelTest, AnnotationsRecordedByTheGovernor) {
  std::string out = AcquireThenConnectTwice("db.read", "--annotation ticket=OPS-1234 --annotation run=nightly");
  ExpectOneConnectOnly(out);
  auto issued = GovernorRecords(RecordKind::kIssued);
  ASSERT_EQ(issued.size(), 1u);
  EXPECT_EQ(Field(issued[0], "actor"), Derived());
  EXPECT_NE(Field(issued[0], "annotations").find(" run=nightly; ticket=OPS-1234"), std::string::npos)
      << Field(issued[0], "annotations");
}

}  // namespace
}  // namespace taogate::agent::testing
