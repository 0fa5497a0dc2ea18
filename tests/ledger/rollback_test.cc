// Rollback attacks on a writer's Open: records that a signed
// checkpoint covers must never disappear silently, or a CONSUMED record among
// them lets its TAO be redeemed a second time after a restart.
#include <gtest/gtest.h>

#include <filesystem>

#include "ledger/ledger_testing.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/segment.h"
#include "taogate/ledger/verify.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;

class RollbackTest : public ::testing::Test {
 protected:
  // n records, then the closing CHECKPOINT (seq n) signed over all n.
  void MakeSigned(uint64_t n) { AppendSamples(*OpenOrDie(Options(dir_, signer_.get())), n); }
  // n more records that no checkpoint covers (no signer: no closing checkpoint).
  void AppendUnsigned(uint64_t n) { AppendSamples(*OpenOrDie(Options(dir_)), n); }
  uint64_t Off(size_t seq) { return FrameOffsets(seg_).at(seq); }
  absl::Status OpenStatus(bool accept_loss = false) {
    auto o = Options(dir_);
    o.accept_loss = accept_loss;
    auto l = Ledger::Open(o);
    if (l.ok()) size_ = (*l)->Size(), recovery_ = (*l)->recovery();
    return l.status();
  }

  taogate::testing::TempDir tmp_;
  std::string dir_ = (tmp_.path() / "ledger").string();
  std::string seg_ = SegmentPath(dir_);
  std::unique_ptr<Ed25519Signer> signer_ = TestSigner();
  uint64_t size_ = 0;
  RecoveryInfo recovery_;
};

TEST_F(RollbackTest, TruncatedInsideACheckpointedRecordIsRefusedAndNothingIsChanged) {
  MakeSigned(10);  // DIR/checkpoint covers 10 records
  TruncateFile(seg_, Off(6) + 20);
  std::string before = ReadBytes(seg_);
  absl::Status s = OpenStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(BadSeq(s), 6u);
  EXPECT_NE(s.message().find("covers 10 records but only 6 were recovered"), std::string::npos) << s;
  EXPECT_NE(s.message().find(seg_), std::string::npos) << s;
  EXPECT_NE(s.message().find("--accept-loss"), std::string::npos) << s;
  EXPECT_EQ(ReadBytes(seg_), before);  // the evidence is left as it was
}

TEST_F(RollbackTest, CutAtARecordBoundaryInsideTheCheckpointIsRefusedToo) {
  MakeSigned(10);
  TruncateFile(seg_, Off(8));  // no torn bytes at all: records 8, 9 and the CHECKPOINT gone
  absl::Status s = OpenStatus();
  EXPECT_EQ(BadSeq(s), 8u) << s;
  EXPECT_NE(s.message().find("covers 10 records but only 8"), std::string::npos) << s;
}

TEST_F(RollbackTest, TornTailAfterTheCheckpointIsStillRecoveredSilently) {
  MakeSigned(5);      // seqs 0..4, CHECKPOINT 5
  AppendUnsigned(3);  // seqs 6..8, not yet covered: the normal crash window
  TruncateFile(seg_, Off(7) + 20);
  ASSERT_TRUE(OpenStatus().ok());
  EXPECT_TRUE(recovery_.truncated_tail);
  EXPECT_EQ(recovery_.tail_seq, 7u);
  EXPECT_EQ(size_, 7u);
}

TEST_F(RollbackTest, SameSizeButAnotherRootIsRefused) {
  MakeSigned(10);
  std::string note = ReadBytes(dir_ + "/checkpoint");
  std::filesystem::remove_all(dir_);
  AppendUnsigned(11);  // same size, other records (a rewritten history)
  WriteBytes(dir_ + "/checkpoint", note);
  absl::Status s = OpenStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(BadSeq(s), 9u);
  EXPECT_NE(s.message().find("signed records were rewritten"), std::string::npos) << s;
  EXPECT_NE(s.message().find(dir_ + "/checkpoint"), std::string::npos) << s;
}

TEST_F(RollbackTest, GarbledCheckpointFileIsRefused) {
  MakeSigned(3);
  WriteBytes(dir_ + "/checkpoint", "not a note");
  absl::Status s = OpenStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("not a checkpoint note"), std::string::npos) << s;
}

TEST_F(RollbackTest, ACheckpointFileLeftBehindByACrashIsCaughtUpAndThenGuards) {
  MakeSigned(5);  // CHECKPOINT 5, file says 5
  std::string old_note = ReadBytes(dir_ + "/checkpoint");
  AppendSamples(*OpenOrDie(Options(dir_, signer_.get())), 3);  // CHECKPOINT 9, file says 9
  WriteBytes(dir_ + "/checkpoint", old_note);  // crash between the record and the file
  ASSERT_TRUE(OpenStatus().ok());
  EXPECT_NE(ReadBytes(dir_ + "/checkpoint").find("\n9\n"), std::string::npos);
  TruncateFile(seg_, Off(7) + 20);
  EXPECT_EQ(BadSeq(OpenStatus()), 7u);
}

TEST_F(RollbackTest, ReadOnlyOpenersStillSeeTheDamagedLedger) {
  MakeSigned(10);
  TruncateFile(seg_, Off(6) + 20);
  auto o = Options(dir_);
  o.read_only = true;
  auto l = Ledger::Open(o);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ((*l)->Size(), 6u);
}

TEST_F(RollbackTest, AcceptLossKeepsTheDamageAsideAndRecordsTheLoss) {
  MakeSigned(10);
  TruncateFile(seg_, Off(6) + 20);
  std::string damaged = ReadBytes(seg_);
  ASSERT_TRUE(OpenStatus(/*accept_loss=*/true).ok());
  ASSERT_TRUE(recovery_.loss_accepted);
  EXPECT_EQ(recovery_.checkpoint_size, 10u);
  EXPECT_EQ(recovery_.recovered_size, 6u);
  EXPECT_EQ(ReadBytes(recovery_.moved_aside_to + "/" + SegmentFileName(0)), damaged);
  EXPECT_TRUE(std::filesystem::exists(recovery_.moved_aside_to + "/checkpoint"));
  EXPECT_EQ(size_, 7u);  // 6 kept + LOSS_ACCEPTED
  auto l = OpenOrDie(Options(dir_));  // an ordinary open works again
  auto r = l->Read(6);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, RecordKind::kLossAccepted);
  EXPECT_EQ(r->Field("count"), "4");
  EXPECT_EQ(r->Field("path"), recovery_.moved_aside_to);
  l.reset();
  EXPECT_TRUE(VerifyLedger(dir_, *ParseNoteVerifier(signer_->VerifierKey())).ok());
}

TEST_F(RollbackTest, AcceptLossOfARewrittenHistoryKeepsACopyThatLaterAppendsDoNotTouch) {
  MakeSigned(10);
  std::string note = ReadBytes(dir_ + "/checkpoint");
  std::filesystem::remove_all(dir_);
  AppendUnsigned(11);
  WriteBytes(dir_ + "/checkpoint", note);
  std::string rewritten = ReadBytes(seg_);
  ASSERT_TRUE(OpenStatus(/*accept_loss=*/true).ok());
  ASSERT_TRUE(recovery_.loss_accepted);
  AppendUnsigned(2);
  EXPECT_EQ(ReadBytes(recovery_.moved_aside_to + "/" + SegmentFileName(0)), rewritten);
  EXPECT_EQ(ReadBytes(recovery_.moved_aside_to + "/checkpoint"), note);
  EXPECT_TRUE(OpenStatus().ok());
  EXPECT_EQ(size_, 14u);  // 11 + LOSS_ACCEPTED + 2
}

TEST_F(RollbackTest, AcceptLossOnAnIntactLedgerChangesNothing) {
  MakeSigned(4);
  ASSERT_TRUE(OpenStatus(/*accept_loss=*/true).ok());
  EXPECT_FALSE(recovery_.loss_accepted);
  EXPECT_EQ(size_, 5u);
}

}  // namespace
}  // namespace taogate::ledger
