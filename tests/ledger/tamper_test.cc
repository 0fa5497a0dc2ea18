// Tamper matrix: each attack on the files is detected by VerifyLedger (and
// refused by Open) naming the right seq.
#include <gtest/gtest.h>

#include "ledger/ledger_testing.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/segment.h"
#include "taogate/ledger/verify.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;

class TamperTest : public ::testing::Test {
 protected:
  void MakeLedger(uint64_t n, Signer* signer = nullptr) {
    auto l = OpenOrDie(Options(dir_, signer));
    AppendSamples(*l, n);
  }
  uint64_t Off(size_t seq) { return FrameOffsets(seg_).at(seq); }
  std::optional<uint64_t> VerifyBadSeq(const std::optional<NoteVerifier>& key = std::nullopt) {
    auto v = VerifyLedger(dir_, key);
    if (v.ok()) return std::nullopt;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
    last_error_ = std::string(v.status().message());
    return BadSeq(v.status());
  }
  std::optional<uint64_t> OpenBadSeq() {
    auto l = Ledger::Open(Options(dir_));
    if (l.ok()) return std::nullopt;
    EXPECT_EQ(l.status().code(), absl::StatusCode::kDataLoss) << l.status();
    return BadSeq(l.status());
  }
  // Re-encodes record `seq` (payload edited by `edit`) with a correct CRC.
  void RewriteRecord(size_t seq, const std::function<void(Record&)>& edit) {
    std::string d = ReadBytes(seg_);
    uint64_t off = Off(seq);
    std::string frame = FrameAt(d, off);
    Record r = *DecodePayload(frame.substr(format::kFrameHeaderSize));
    edit(r);
    std::string nf = EncodeFrame(EncodePayload(r.seq, r.time_ns, r.kind, r.prev_hash, r.fields));
    WriteBytes(seg_, d.substr(0, off) + nf + d.substr(off + frame.size()));
  }

  taogate::testing::TempDir tmp_;
  std::string dir_ = (tmp_.path() / "ledger").string();
  std::string seg_ = SegmentPath(dir_);
  std::string last_error_;
};

TEST_F(TamperTest, IntactLedgerVerifies) {
  MakeLedger(10);
  EXPECT_EQ(VerifyBadSeq(), std::nullopt);
}

TEST_F(TamperTest, FlippedPayloadByte) {
  MakeLedger(10);
  FlipByte(seg_, Off(4) + format::kFrameHeaderSize + 60);
  EXPECT_EQ(VerifyBadSeq(), 4u);
  EXPECT_NE(last_error_.find("CRC32C mismatch"), std::string::npos) << last_error_;
  EXPECT_EQ(OpenBadSeq(), 4u);  // not a torn tail: whole records follow
}

TEST_F(TamperTest, FlippedLengthByte) {
  MakeLedger(10);
  FlipByte(seg_, Off(6));
  EXPECT_EQ(VerifyBadSeq(), 6u);
  EXPECT_EQ(OpenBadSeq(), 6u);
}

TEST_F(TamperTest, DeletedRecord) {
  MakeLedger(10);
  std::string d = ReadBytes(seg_);
  WriteBytes(seg_, d.substr(0, Off(4)) + d.substr(Off(5)));
  EXPECT_EQ(VerifyBadSeq(), 4u);
  EXPECT_NE(last_error_.find("found seq 5 where seq 4 belongs"), std::string::npos) << last_error_;
  EXPECT_EQ(OpenBadSeq(), 4u);
}

TEST_F(TamperTest, SwappedRecords) {
  MakeLedger(10);
  std::string d = ReadBytes(seg_);
  std::string a = FrameAt(d, Off(3)), b = FrameAt(d, Off(4));
  WriteBytes(seg_, d.substr(0, Off(3)) + b + a + d.substr(Off(5)));
  EXPECT_EQ(VerifyBadSeq(), 3u);
  EXPECT_EQ(OpenBadSeq(), 3u);
}

TEST_F(TamperTest, TruncatedMidRecordIsATornTailThatTheCheckpointExposes) {
  auto signer = TestSigner();
  MakeLedger(10, signer.get());  // closing checkpoint = seq 10 over 10 records
  TruncateFile(seg_, Off(6) + 20);
  EXPECT_EQ(VerifyBadSeq(), 6u);
  EXPECT_NE(last_error_.find("torn tail"), std::string::npos) << last_error_;
  // DIR/checkpoint says there were 11: a writer's Open refuses to truncate
  // signed records (rollback_test.cc), and so does verify.
  EXPECT_EQ(OpenBadSeq(), 6u);
  EXPECT_EQ(VerifyBadSeq(*ParseNoteVerifier(signer->VerifierKey())), 6u);
}

TEST_F(TamperTest, RecordsRemovedWithTheCheckpointFileAreCaughtByAWitnessNote) {
  auto signer = TestSigner();
  MakeLedger(10, signer.get());
  std::string witness = ReadBytes(dir_ + "/checkpoint");  // note over 10 records
  auto key = *ParseNoteVerifier(signer->VerifierKey());
  ASSERT_TRUE(VerifyLedger(dir_, key, {witness}).ok());
  // Cut at a record boundary (seq 7 onwards, including the CHECKPOINT) and
  // delete DIR/checkpoint: the files alone now look like a clean 7-record ledger.
  TruncateFile(seg_, Off(7));
  std::remove((dir_ + "/checkpoint").c_str());
  EXPECT_TRUE(VerifyLedger(dir_, key).ok());
  auto v = VerifyLedger(dir_, key, {witness});
  EXPECT_EQ(BadSeq(v.status()), 7u) << v.status();
  EXPECT_NE(std::string(v.status().message()).find("were removed"), std::string::npos);
  // A forged witness note is refused on its signature.
  std::string forged = witness;
  forged[forged.find('\n') + 1] = '9';
  EXPECT_FALSE(VerifyLedger(dir_, key, {forged}).ok());
}

TEST_F(TamperTest, AppendedForgedRecordWithCorrectCrc) {
  MakeLedger(10);
  // A copy of record 2 renumbered as seq 10: valid frame, broken chain.
  std::string d = ReadBytes(seg_);
  Record r = *DecodePayload(FrameAt(d, Off(2)).substr(format::kFrameHeaderSize));
  r.seq = 10;
  r.fields = {{"actor", "mallory"}, {"decision", "PERMIT"}};
  WriteBytes(seg_, d + EncodeFrame(EncodePayload(r.seq, r.time_ns, RecordKind::kIssued, r.prev_hash, r.fields)));
  EXPECT_EQ(VerifyBadSeq(), 10u);
  EXPECT_NE(last_error_.find("prev_hash"), std::string::npos) << last_error_;
  EXPECT_EQ(OpenBadSeq(), 10u);
}

TEST_F(TamperTest, AlteredRecordWithRecomputedCrcBreaksTheChainAtTheNextRecord) {
  MakeLedger(10);
  RewriteRecord(5, [](Record& r) { r.fields[2].second = "agent:mallory"; });
  EXPECT_EQ(VerifyBadSeq(), 6u);
  EXPECT_NE(last_error_.find("seq 5 altered"), std::string::npos) << last_error_;
  EXPECT_EQ(OpenBadSeq(), 6u);
}

TEST_F(TamperTest, ChainConsistentRewriteIsCaughtByTheCheckpointSignature) {
  auto signer = TestSigner();
  MakeLedger(10, signer.get());  // seq 10 is the closing CHECKPOINT
  // The attacker alters seq 3, re-chains every later record and even fixes
  // the checkpoint's root hash; only the signature cannot be redone.
  MerkleTree tree;
  Hash prev{};
  std::string d = ReadBytes(seg_), out = d.substr(0, format::kSegmentHeaderSize);
  for (uint64_t off : FrameOffsets(seg_)) {
    Record r = *DecodePayload(FrameAt(d, off).substr(format::kFrameHeaderSize));
    if (r.seq == 3) r.fields[2].second = "agent:mallory";
    if (r.kind == RecordKind::kCheckpoint)
      for (auto& [k, v] : r.fields)
        if (k == "root_hash") v = Base64Encode(*tree.RootAt(r.seq));
    std::string payload = EncodePayload(r.seq, r.time_ns, r.kind, prev, r.fields);
    prev = LeafHash(payload);
    tree.Append(prev);
    out += EncodeFrame(payload);
  }
  WriteBytes(seg_, out);
  std::remove((dir_ + "/checkpoint").c_str());
  EXPECT_EQ(VerifyBadSeq(), std::nullopt);  // without the key nothing can tell
  EXPECT_EQ(VerifyBadSeq(*ParseNoteVerifier(signer->VerifierKey())), 10u);
  EXPECT_NE(last_error_.find("signature"), std::string::npos) << last_error_;
}

TEST_F(TamperTest, ForgedExtensionAfterTheLastCheckpointIsReportedAsUnsigned) {
  auto signer = TestSigner();
  MakeLedger(5, signer.get());  // seq 5 = CHECKPOINT
  {
    // A chain-consistent forged record after the last checkpoint is
    // indistinguishable from a real one written just before a crash; verify
    // says how much of the ledger no signature covers.
    auto l = OpenOrDie(Options(dir_));
    AppendSamples(*l, 1);
  }
  auto v = VerifyLedger(dir_, *ParseNoteVerifier(signer->VerifierKey()));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->unsigned_tail, 1u);
  EXPECT_NE(v->OneLine().find("1 records after the last checkpoint"), std::string::npos);
}

TEST_F(TamperTest, GarbageInsteadOfASegmentHeader) {
  MakeLedger(3);
  FlipByte(seg_, 2);
  EXPECT_EQ(VerifyBadSeq(), 0u);
  EXPECT_EQ(OpenBadSeq(), 0u);
}

}  // namespace
}  // namespace taogate::ledger

namespace taogate::ledger {
namespace {

// Segments over 4096 records are hashed on several threads; the first bad
// seq must still be the one reported.
TEST(TamperLargeTest, ParallelScanStillNamesTheFirstBadSeq) {
  taogate::testing::TempDir tmp;
  std::string dir = (tmp.path() / "ledger").string();
  {
    auto o = testing::Options(dir);
    o.fsync = false;
    auto l = testing::OpenOrDie(o);
    testing::AppendSamples(*l, 6000);
  }
  ASSERT_TRUE(VerifyLedger(dir).ok());
  {
    // Scan (used to rebuild indexes) crosses its 1 MiB read chunks seamlessly.
    auto ro = testing::Options(dir);
    ro.read_only = true;
    auto l = testing::OpenOrDie(ro);
    uint64_t next = 0;
    ASSERT_TRUE(l->Scan(0, [&](const Record& r) { return r.seq == next++; }).ok());
    EXPECT_EQ(next, 6000u);
  }
  std::string seg = testing::SegmentPath(dir);
  auto offs = testing::FrameOffsets(seg);
  // Break the chain at 4500 (valid CRC) and the CRC at 5200: 4500 comes first.
  {
    std::string d = testing::ReadBytes(seg);
    std::string frame = testing::FrameAt(d, offs[4500]);
    Record r = *DecodePayload(frame.substr(format::kFrameHeaderSize));
    r.fields[0].second = "tao-F500";  // same length
    std::string nf = EncodeFrame(EncodePayload(r.seq, r.time_ns, r.kind, r.prev_hash, r.fields));
    ASSERT_EQ(nf.size(), frame.size());
    d.replace(offs[4500], nf.size(), nf);
    testing::WriteBytes(seg, d);
  }
  testing::FlipByte(seg, offs[5200] + format::kFrameHeaderSize + 3);
  auto v = VerifyLedger(dir);
  EXPECT_EQ(BadSeq(v.status()), 4501u) << v.status();
}

}  // namespace
}  // namespace taogate::ledger
