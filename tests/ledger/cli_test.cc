// taogatectl ledger ...: exit codes, one-line summaries and proof JSON that
// verifies independently.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ledger/ledger_testing.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/merkle.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;
using taogate::testing::BinPath;
using taogate::testing::RunCommand;

Hash H(const nlohmann::json& j) {
  auto s = Base64Decode(j.get<std::string>());
  Hash h{};
  if (s.ok() && s->size() == 32) std::copy(s->begin(), s->end(), reinterpret_cast<char*>(h.data()));
  return h;
}

class LedgerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = TestSigner();
    auto l = OpenOrDie(Options(dir_, signer_.get()));
    AppendSamples(*l, 20);
    root20_ = *l->RootAt(20);
    taogate::testing::WriteFile(vkey_, signer_->VerifierKey() + "\n");
  }
  taogate::testing::TempDir tmp_;
  std::string dir_ = (tmp_.path() / "ledger").string();
  std::string vkey_ = (tmp_.path() / "ledger.vkey").string();
  std::unique_ptr<Ed25519Signer> signer_;
  Hash root20_{};
};

TEST_F(LedgerCliTest, VerifyIntact) {
  auto r = RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", dir_, "--pubkey", vkey_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("ledger OK: 21 records", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("1 signatures verified"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
}

TEST_F(LedgerCliTest, VerifyNamesTheFirstBadSeq) {
  std::string seg = SegmentPath(dir_);
  FlipByte(seg, FrameOffsets(seg).at(13) + format::kFrameHeaderSize + 30);
  auto r = RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", dir_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("FAILED at seq 13"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("CRC32C"), std::string::npos) << r.err;
}

TEST_F(LedgerCliTest, VerifyAgainstAWitnessCheckpoint) {
  std::string witness = (tmp_.path() / "witness.note").string();
  taogate::testing::WriteFile(witness, taogate::testing::ReadFile(dir_ + "/checkpoint"));
  auto ok = RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", dir_, "--pubkey", vkey_,
                        "--checkpoint", witness});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("consistent with 1 witness checkpoints"), std::string::npos) << ok.out;
  std::string seg = SegmentPath(dir_);
  TruncateFile(seg, FrameOffsets(seg).at(15));
  std::remove((dir_ + "/checkpoint").c_str());
  auto bad = RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", dir_, "--pubkey", vkey_,
                         "--checkpoint", witness});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("FAILED at seq 15"), std::string::npos) << bad.err;
}

// The rollback guard's way out is an explicit operator command, never a
// default: without --accept-loss it does nothing.
TEST_F(LedgerCliTest, RecoverNeedsAcceptLossAndThenRecordsTheLoss) {
  std::string seg = SegmentPath(dir_);
  TruncateFile(seg, FrameOffsets(seg).at(13) + 20);  // inside a record the checkpoint covers
  std::string damaged = ReadBytes(seg);
  EXPECT_NE(RunCommand({BinPath("taogatectl"), "ledger", "recover", "--dir", dir_}).exit_code, 0);
  EXPECT_EQ(ReadBytes(seg), damaged);
  auto r = RunCommand({BinPath("taogatectl"), "ledger", "recover", "--dir", dir_, "--accept-loss"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("accepted the loss of 7 signed records"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LOSS_ACCEPTED recorded at seq 13"), std::string::npos) << r.out;
  auto v = RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", dir_, "--pubkey", vkey_});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  auto again = RunCommand({BinPath("taogatectl"), "ledger", "recover", "--dir", dir_, "--accept-loss"});
  EXPECT_NE(again.out.find("nothing lost"), std::string::npos) << again.out;
}

TEST_F(LedgerCliTest, ProveOutputVerifies) {
  auto r = RunCommand({BinPath("taogatectl"), "ledger", "prove", "--dir", dir_, "--seq", "7", "--size", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["seq"], 7);
  EXPECT_EQ(H(j["root"]), root20_);
  std::vector<Hash> path;
  for (const auto& e : j["proof"]) path.push_back(H(e));
  EXPECT_TRUE(VerifyInclusion(7, 20, H(j["leaf_hash"]), path, root20_).ok());
}

TEST_F(LedgerCliTest, ConsistencyOutputVerifies) {
  auto r = RunCommand({BinPath("taogatectl"), "ledger", "consistency", "--dir", dir_, "--from", "6", "--to", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::vector<Hash> proof;
  for (const auto& e : j["proof"]) proof.push_back(H(e));
  EXPECT_EQ(H(j["root2"]), root20_);
  EXPECT_TRUE(VerifyConsistency(6, 20, proof, H(j["root1"]), H(j["root2"])).ok());
}

TEST_F(LedgerCliTest, ShowAndTail) {
  auto show = RunCommand({BinPath("taogatectl"), "ledger", "show", "--dir", dir_, "--seq", "3"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto j = nlohmann::json::parse(show.out);
  EXPECT_EQ(j["kind"], "CONSUMED");
  EXPECT_EQ(j["fields"]["tao_id"], "tao-3");
  auto tail = RunCommand({BinPath("taogatectl"), "ledger", "tail", "--dir", dir_, "-n", "2"});
  ASSERT_EQ(tail.exit_code, 0) << tail.err;
  EXPECT_EQ(std::count(tail.out.begin(), tail.out.end(), '\n'), 2);
  EXPECT_NE(tail.out.find("\"CHECKPOINT\""), std::string::npos);
  auto missing = RunCommand({BinPath("taogatectl"), "ledger", "show", "--dir", dir_, "--seq", "99"});
  EXPECT_NE(missing.exit_code, 0);
}

}  // namespace
}  // namespace taogate::ledger
