// Policy activation, protected-target watch, ledger checkpoints and proofs,
// kill-switch broadcast, graceful shutdown, /metrics and /healthz.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "governance/governor_testing.h"
#include "taogate/common/fd.h"
#include "taogate/common/hex.h"
#include "taogate/governance/approval.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/note.h"
#include "taogate/tao/codec.h"

namespace taogate::governance::testing {
namespace {

class GovernorAdminTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(gov_.Start()) << gov_.error(); }

  grpc::Status Activate(const std::string& who, const std::string& yaml,
                        v1::ActivatePolicyResponse* r, const std::string& name = "v2.yaml") {
    v1::ActivatePolicyRequest req;
    req.set_bundle_yaml(yaml);
    req.set_name(name);
    grpc::ClientContext ctx;
    return gov_.Client(who)->ActivatePolicy(&ctx, req, r);
  }
  v1::Decision Read() {
    v1::Decision d;
    grpc::ClientContext ctx;
    EXPECT_TRUE(gov_.Client(kAgent)->RequestAuthorization(&ctx, ReadRequest(), &d).ok());
    return d;
  }
  std::string ActiveHash() {
    v1::GetPolicyResponse r;
    grpc::ClientContext ctx;
    EXPECT_TRUE(gov_.Client(kAgent)->GetPolicy(&ctx, {}, &r).ok());
    return r.policy_sha256();
  }

  GovernorProcess gov_;
};

TEST_F(GovernorAdminTest, BadBundleIsRefusedWithTheLineAndOldOneStays) {
  const std::string before = ActiveHash();
  std::string bad = TestPolicy(gov_.ApproverPublicKeys());
  bad.replace(bad.find("ttl: 60s"), 8, "ttl: forever");  // line 42 of the bundle
  v1::ActivatePolicyResponse r;
  ASSERT_TRUE(Activate(kAdmin, bad, &r, "bad.yaml").ok());
  ASSERT_FALSE(r.errors().empty());
  EXPECT_NE(r.errors(0).find("bad.yaml:"), std::string::npos) << r.errors(0);
  EXPECT_NE(r.errors(0).find("action_classes[0].ttl"), std::string::npos) << r.errors(0);
  int line = std::stoi(r.errors(0).substr(9));
  int expected = 1;
  for (char c : bad.substr(0, bad.find("ttl: forever"))) expected += c == '\n';
  EXPECT_EQ(line, expected) << r.errors(0);
  EXPECT_EQ(r.policy_sha256(), before);
  EXPECT_EQ(ActiveHash(), before);
  EXPECT_EQ(Read().outcome(), v1::OUTCOME_PERMIT);
}

TEST_F(GovernorAdminTest, OnlyAdminsActivate) {
  v1::ActivatePolicyResponse r;
  auto s = Activate(kAgent, TestPolicy(gov_.ApproverPublicKeys(), 2), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Read().outcome(), v1::OUTCOME_PERMIT);
}

TEST_F(GovernorAdminTest, ActivationChangesDecisionsTargetsAndTheHashInNewTaos) {
  // An agent watches the protected targets.
  grpc::ClientContext wctx;
  wctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto watch_stub = gov_.Client(kAgent);
  v1::WatchProtectedTargetsRequest wr;
  wr.set_node_id("node-a");
  auto reader = watch_stub->WatchProtectedTargets(&wctx, wr);
  v1::ProtectedTargets first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.policy_sha256(), ActiveHash());
  ASSERT_EQ(first.targets_size(), 2);
  EXPECT_EQ(first.targets(0).cidr(), "127.0.0.1/32");
  EXPECT_EQ(first.targets(0).port_from(), 5432u);
  EXPECT_EQ(first.targets(1).path(), "/etc/test/secret");

  v1::Decision before = Read();
  ASSERT_EQ(before.outcome(), v1::OUTCOME_PERMIT);
  // v3: the same rules, different bytes (a comment): a new bundle hash.
  std::string v3 = TestPolicy(gov_.ApproverPublicKeys()) + "# v3\n";
  v1::ActivatePolicyResponse r;
  ASSERT_TRUE(Activate(kAdmin, v3, &r).ok());
  ASSERT_TRUE(r.errors().empty()) << r.errors(0);
  EXPECT_EQ(r.policy_sha256(), ToHex(crypto::Sha256(v3)));
  v1::ProtectedTargets next;
  ASSERT_TRUE(reader->Read(&next));
  EXPECT_EQ(next.policy_sha256(), r.policy_sha256());
  v1::Decision after = Read();
  ASSERT_EQ(after.outcome(), v1::OUTCOME_PERMIT);
  v1::Tao tao;
  ASSERT_TRUE(tao.ParseFromString(after.tao()));
  auto body = tao::DecodeBody(tao.body());
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(ToHex(body->policy_bundle_sha256()), r.policy_sha256());
  // v2 turns the allow into a deny.
  ASSERT_TRUE(Activate(kAdmin, TestPolicy(gov_.ApproverPublicKeys(), 2), &r).ok());
  EXPECT_EQ(Read().outcome(), v1::OUTCOME_DENY);
  ASSERT_TRUE(reader->Read(&next));
  EXPECT_EQ(next.policy_sha256(), r.policy_sha256());
  wctx.TryCancel();
}

TEST_F(GovernorAdminTest, PendingApprovalDoesNotSurviveAPolicyChange) {
  v1::Decision d;
  grpc::ClientContext c;
  ASSERT_TRUE(gov_.Client(kWriter)->RequestAuthorization(&c, WriteRequest(), &d).ok());
  v1::ActivatePolicyResponse r;
  ASSERT_TRUE(Activate(kAdmin, TestPolicy(gov_.ApproverPublicKeys()) + "# x\n", &r).ok());
  // The approver signed the old intent; the governor refuses to issue on it.
  v1::Decision out;
  auto a = SignApproval(d, true, gov_.ApproverKey(kAlice), NowMs());
  grpc::ClientContext c2;
  ASSERT_TRUE(gov_.Client(kAlice)->Approve(&c2, *a, &out).ok());
  EXPECT_EQ(out.outcome(), v1::OUTCOME_DENY);
}

TEST_F(GovernorAdminTest, CheckpointIsSignedByTheDelegatedKeyAndProofsVerify) {
  v1::Decision d = Read();
  v1::LedgerCheckpointResponse cp;
  grpc::ClientContext c1;
  ASSERT_TRUE(gov_.Client(kAgent)->LedgerCheckpoint(&c1, {}, &cp).ok());
  auto note = ledger::ParseSignedNote(cp.checkpoint());
  ASSERT_TRUE(note.ok()) << note.status();
  auto verifier = ledger::ParseNoteVerifier(cp.verifier_key());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE(ledger::VerifyNote(*note, *verifier).ok());
  auto body = ledger::ParseCheckpointBody(note->body);
  ASSERT_TRUE(body.ok());
  // The checkpoint key is certified by the root for this purpose only.
  v1::IssuerCertificate cert;
  ASSERT_TRUE(cert.ParseFromString(cp.key_certificate()));
  v1::IssuerCertificateBody cb;
  ASSERT_TRUE(cb.ParseFromString(cert.body()));
  EXPECT_EQ(cb.purpose(), "ledger-checkpoint");
  EXPECT_EQ(ToHex(cb.issuing_public_key()), ToHex(verifier->public_key));

  v1::GovernorLedgerProofRequest pr;
  pr.set_seq(d.ledger_seq());
  pr.set_tree_size(body->tree_size);
  v1::GovernorLedgerProofResponse proof;
  grpc::ClientContext c2;
  ASSERT_TRUE(gov_.Client(kAgent)->LedgerProof(&c2, pr, &proof).ok());
  EXPECT_EQ(proof.root_hex(), ToHex(body->root));
  std::vector<ledger::Hash> path;
  for (const auto& h : proof.audit_path_hex()) {
    auto b = FromHex(h);
    ASSERT_TRUE(b.ok());
    ledger::Hash x{};
    std::copy(b->begin(), b->end(), x.begin());
    path.push_back(x);
  }
  auto leaf = FromHex(proof.leaf_hash_hex());
  ledger::Hash lh{};
  std::copy(leaf->begin(), leaf->end(), lh.begin());
  EXPECT_TRUE(ledger::VerifyInclusion(d.ledger_seq(), body->tree_size, lh, path, body->root).ok());
}

TEST_F(GovernorAdminTest, KillSwitchIsBroadcastToWatchingAgents) {
  grpc::ClientContext wctx;
  wctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stub = gov_.Client(kAgent);
  v1::WatchKillSwitchRequest w;
  w.set_node_id("node-a");
  auto reader = stub->WatchKillSwitch(&wctx, w);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  v1::GovernorKillSwitchRequest k;
  k.set_engage(true);
  k.set_workload("test");
  k.set_reason("suspected prompt injection");
  v1::GovernorKillSwitchResponse kr;
  grpc::ClientContext c1;
  EXPECT_EQ(gov_.Client(kAgent)->KillSwitch(&c1, k, &kr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext c2;
  ASSERT_TRUE(gov_.Client(kAdmin)->KillSwitch(&c2, k, &kr).ok());
  v1::GovernorKillSwitchRequest got;
  ASSERT_TRUE(reader->Read(&got));
  EXPECT_TRUE(got.engage());
  EXPECT_EQ(got.workload(), "test");
  EXPECT_EQ(got.sequence(), kr.sequence());
  wctx.TryCancel();
}

TEST_F(GovernorAdminTest, EveryDecisionIsInTheLedgerAndShutdownIsClean) {
  Read();
  v1::Decision d;
  grpc::ClientContext c;
  ASSERT_TRUE(gov_.Client(kPlugin)->RequestAuthorization(&c, ReadRequest(), &d).ok());
  grpc::ClientContext c2;
  ASSERT_TRUE(gov_.Client(kWriter)->RequestAuthorization(&c2, WriteRequest(), &d).ok());
  int mport = gov_.MetricsPort();
  ASSERT_GT(mport, 0) << gov_.log();
  EXPECT_NE(HttpGet(mport, "/healthz").find("200 OK"), std::string::npos);
  std::string metrics = HttpGet(mport, "/metrics");
  EXPECT_NE(metrics.find("taogate_governor_permits_total 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("taogate_governor_pending_total 1"), std::string::npos) << metrics;
  gov_.Stop();
  auto records = gov_.LedgerRecords();
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::string> kinds;
  for (const ledger::Record& r : *records) kinds.push_back(ledger::KindName(r.kind));
  // The checkpoint key's KEY_ROTATED comes first: Ledger::Open writes it.
  std::vector<std::string> expected = {"KEY_ROTATED", "STARTED", "KEY_ROTATED", "POLICY_ACTIVATED",
                                       "ISSUED", "DENIED", "APPROVAL_REQUESTED", "CHECKPOINT"};
  EXPECT_EQ(kinds, expected);
}

}  // namespace
}  // namespace taogate::governance::testing
