// Redeem as attacks against a real agent process, real socket, real cgroups
// and the real kernel gate. Every rejection is checked three ways: the
// workload's answer (reason code), the ledger (a REJECTED record with that
// reason) and the kernel (no connect gets through).
#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "taogate/common/hex.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

std::string IdHex(const v1::TaoBody& b) { return ToHex(b.id()); }

class RedeemKernelTest : public TwoWorkloadTest {
 protected:
  std::string Host() const { return "127.0.0.1"; }
  std::string Port() const { return std::to_string(protected_->port()); }

  // Presents `wire` from w1 and expects refusal `reason`, a REJECTED ledger
  // record with it, and a denied connect.
  void ExpectRefused(const std::string& wire, const std::string& reason, const std::string& from = "w1") {
    auto r = RunIn(from, {"redeem-connect", workload_sock_, WriteTao(wire), Host(), Port()});
    EXPECT_TRUE(r.Has("REDEEM ERR " + reason + "\n")) << r.out;
    EXPECT_TRUE(r.Has("CONNECT ERR EPERM")) << r.out;
    EXPECT_FALSE(Find(RecordKind::kRejected, "reason_code", reason).empty()) << reason;
    EXPECT_TRUE(Find(RecordKind::kConsumed).empty());
    EXPECT_EQ(protected_->accepted(), 0);
  }

};

TEST_F(RedeemKernelTest, GenuineTaoOpensExactlyOneConnect) {
  v1::TaoBody b = Body(w1_, protected_->port());
  auto r = RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Sign(b)), Host(), Port()});
  EXPECT_TRUE(r.Has("REDEEM OK")) << r.out;
  EXPECT_TRUE(r.Has("CONNECT OK")) << r.out;
  // The grant was one-shot: the next connect is denied by the kernel.
  EXPECT_TRUE(RunIn("w1", {"connect", Host(), Port()}).Has("CONNECT ERR EPERM"));
  EXPECT_EQ(Find(RecordKind::kConsumed, "tao_id", IdHex(b)).size(), 1u);
  ASSERT_TRUE(WaitFor(RecordKind::kExercised, "tao_id", IdHex(b)));
  auto ex = Find(RecordKind::kExercised, "tao_id", IdHex(b));
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].Field("cgroup_id"), std::optional<std::string_view>(std::to_string(w1_)));
  EXPECT_EQ(ex[0].Field("target"), std::optional<std::string_view>("tcp:127.0.0.1:" + Port()));
  EXPECT_GT(ex[0].seq, Find(RecordKind::kConsumed, "tao_id", IdHex(b))[0].seq);
}

TEST_F(RedeemKernelTest, ReplayRefused) {
  std::string wire = Mint(w1_, protected_->port());
  std::string file = WriteTao(wire);
  EXPECT_TRUE(RunIn("w1", {"redeem", workload_sock_, file}).Has("REDEEM OK"));
  auto again = RunIn("w1", {"redeem", workload_sock_, file});
  EXPECT_TRUE(again.Has("REDEEM ERR REPLAY")) << again.out;
  EXPECT_EQ(Find(RecordKind::kConsumed).size(), 1u);
  EXPECT_EQ(Find(RecordKind::kRejected, "reason_code", "REPLAY").size(), 1u);
}

TEST_F(RedeemKernelTest, ReplayRefusedAcrossAgentRestart) {
  v1::TaoBody b = Body(w1_, protected_->port());
  std::string file = WriteTao(Sign(b));
  EXPECT_TRUE(RunIn("w1", {"redeem", workload_sock_, file}).Has("REDEEM OK"));
  StopAgent();
  StartAgent();
  auto r = RunIn("w1", {"redeem", workload_sock_, file});
  EXPECT_TRUE(r.Has("REDEEM ERR REPLAY")) << r.out;
  EXPECT_EQ(Find(RecordKind::kConsumed, "tao_id", IdHex(b)).size(), 1u);
  EXPECT_EQ(Find(RecordKind::kRejected, "reason_code", "REPLAY").size(), 1u);
}

TEST_F(RedeemKernelTest, ForgedSignatureRefused) {
  auto tao = issuer_->SignTao(Body(w1_, protected_->port()));
  ASSERT_TRUE(tao.ok());
  std::string sig = tao->signature();
  sig[7] ^= 0x01;
  tao->set_signature(sig);
  ExpectRefused(tao->SerializeAsString(), "BAD_SIGNATURE");
}

TEST_F(RedeemKernelTest, WrongKeyRefused) {
  auto other_root = keys::SoftwareRootSigner::Generate();
  ASSERT_TRUE(other_root.ok());
  keys::IssuingKeyOptions io;
  io.max_tao_lifetime_ms = 2 * 60'000;
  io.certificate_lifetime_ms = 10 * 60'000;
  io.rotate_every_ms = 5 * 60'000;
  auto other = keys::IssuingKeyManager::Create(other_root->get(), io);
  ASSERT_TRUE(other.ok());
  auto tao = (*other)->SignTao(Body(w1_, protected_->port()));
  ASSERT_TRUE(tao.ok());
  ExpectRefused(tao->SerializeAsString(), "BAD_SIGNATURE");
}

TEST_F(RedeemKernelTest, ExpiredRefused) {
  v1::TaoBody b = Body(w1_, protected_->port());
  b.set_not_before_ms(b.not_before_ms() - 40'000);
  b.set_expires_at_ms(b.not_before_ms() + 20'000);  // ended ~20 s ago
  ExpectRefused(Sign(b), "EXPIRED");
}

TEST_F(RedeemKernelTest, NotYetValidRefused) {
  v1::TaoBody b = Body(w1_, protected_->port());
  b.set_not_before_ms(b.not_before_ms() + 30'000);
  b.set_expires_at_ms(b.not_before_ms() + 60'000);
  ExpectRefused(Sign(b), "NOT_YET_VALID");
}

TEST_F(RedeemKernelTest, WrongNodeRefused) {
  v1::TaoBody b = Body(w1_, protected_->port());
  b.mutable_binding()->set_node_id("node-elsewhere");
  ExpectRefused(Sign(b), "WRONG_NODE");
}

TEST_F(RedeemKernelTest, StolenByAnotherGovernedWorkloadRefused) {
  // Bound to w1, presented by w2: the kernel-visible identity decides.
  ExpectRefused(Mint(w1_, protected_->port()), "WRONG_CGROUP", "w2");
  EXPECT_TRUE(RunIn("w1", {"connect", Host(), Port()}).Has("CONNECT ERR EPERM"));
}

TEST_F(RedeemKernelTest, UnprotectedTargetRefused) {
  auto r = RunIn("w1", {"redeem", workload_sock_, WriteTao(Mint(w1_, open_->port()))});
  EXPECT_TRUE(r.Has("REDEEM ERR UNPROTECTED_TARGET")) << r.out;
  EXPECT_FALSE(Find(RecordKind::kRejected, "reason_code", "UNPROTECTED_TARGET").empty());
}

TEST_F(RedeemKernelTest, MalformedBytesRefused) {
  ExpectRefused(std::string("\x0a\x03not a tao at all\xff\xfe", 22), "MALFORMED");
}

TEST_F(RedeemKernelTest, ThirtyTwoConcurrentRedeemsGrantOnce) {
  v1::TaoBody b = Body(w1_, protected_->port());
  auto r = RunIn("w1", {"redeem-many", workload_sock_, WriteTao(Sign(b)), "32"});
  EXPECT_TRUE(r.Has("MANY OK=1 REPLAY=31 OTHER=0")) << r.out;
  EXPECT_TRUE(RunIn("w1", {"connect", Host(), Port()}).Has("CONNECT OK"));
  EXPECT_TRUE(RunIn("w1", {"connect", Host(), Port()}).Has("CONNECT ERR EPERM"));
  EXPECT_EQ(Find(RecordKind::kConsumed, "tao_id", IdHex(b)).size(), 1u);
  EXPECT_EQ(Refusals("REPLAY", 31), 31u);  // the first at once, 30 repeats in a summary
  EXPECT_EQ(protected_->accepted(), 1);
}

TEST_F(RedeemKernelTest, UngovernedCallerRefused) {
  // The test process itself is outside the governed subtree.
  std::string reason;
  auto r = AgentClient::ForSocket(workload_sock_)->Redeem(Mint(w1_, protected_->port()), &reason);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reason, "NOT_GOVERNED");
}

TEST_F(RedeemKernelTest, WorkloadSocketRefusesOperatorCalls) {
  auto r = AgentClient::ForSocket(workload_sock_)->Status();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(Find(RecordKind::kRejected, "reason_code", "OPERATOR_ONLY").empty());
}

}  // namespace
}  // namespace taogate::agent::testing
