// Ledger behaviour: round trip, chain and proofs recomputed independently,
// checkpoints, concurrency, rotation, locking.
#include "taogate/ledger/ledger.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "ledger/ledger_testing.h"
#include "taogate/ledger/note.h"
#include "taogate/ledger/segment.h"
#include "taogate/ledger/verify.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;

class LedgerTest : public ::testing::Test {
 protected:
  taogate::testing::TempDir tmp_;
  std::string dir_ = (tmp_.path() / "ledger").string();
};

TEST_F(LedgerTest, RoundTripChainAndRootRecomputedIndependently) {
  auto l = OpenOrDie(Options(dir_));
  const RecordKind kinds[] = {RecordKind::kIssued, RecordKind::kDenied, RecordKind::kConsumed,
                              RecordKind::kExercised, RecordKind::kKillSwitch};
  for (uint64_t i = 0; i < 100; ++i) {
    auto seq = l->Append(kinds[i % 5], SampleFields(i));
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, i);
  }
  EXPECT_EQ(l->Size(), 100u);
  Hash prev{};
  MerkleTree independent;
  for (uint64_t i = 0; i < 100; ++i) {
    auto r = l->Read(i);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->seq, i);
    EXPECT_EQ(r->kind, kinds[i % 5]);
    EXPECT_EQ(r->fields, SampleFields(i));
    EXPECT_EQ(r->prev_hash, prev);
    // The record's hash is the RFC 6962 leaf hash of its re-encoded payload.
    Hash h = LeafHash(EncodePayload(r->seq, r->time_ns, r->kind, r->prev_hash, r->fields));
    EXPECT_EQ(r->hash, h);
    prev = h;
    independent.Append(h);
  }
  EXPECT_EQ(*l->RootAt(100), *independent.RootAt(100));
  EXPECT_EQ(*l->RootAt(37), *independent.RootAt(37));
  EXPECT_EQ(l->Read(100).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(LedgerTest, ReopenContinuesTheChainAndScanRebuilds) {
  {
    auto l = OpenOrDie(Options(dir_));
    AppendSamples(*l, 20);
  }
  auto l = OpenOrDie(Options(dir_));
  EXPECT_EQ(l->Size(), 20u);
  EXPECT_FALSE(l->recovery().truncated_tail);
  AppendSamples(*l, 5);
  std::vector<uint64_t> seen;
  ASSERT_TRUE(l->Scan(10, [&](const Record& r) {
                 seen.push_back(r.seq);
                 return r.seq < 22;
               }).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}));
  auto v = VerifyLedger(dir_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->records, 25u);
  EXPECT_EQ(v->root, *l->RootAt(25));
}

TEST_F(LedgerTest, ProofsVerifyAgainstRoots) {
  auto l = OpenOrDie(Options(dir_));
  AppendSamples(*l, 77);
  for (uint64_t size : {1u, 2u, 5u, 64u, 77u}) {
    Hash root = *l->RootAt(size);
    for (uint64_t seq = 0; seq < size; seq += 3) {
      auto p = l->ProveInclusion(seq, size);
      ASSERT_TRUE(p.ok());
      EXPECT_EQ(p->root, root);
      EXPECT_EQ(p->leaf_hash, l->Read(seq)->hash);
      EXPECT_TRUE(VerifyInclusion(seq, size, p->leaf_hash, p->path, root).ok());
    }
    for (uint64_t from = 1; from <= size; from += 7) {
      auto c = l->ProveConsistency(from, size);
      ASSERT_TRUE(c.ok());
      EXPECT_TRUE(VerifyConsistency(from, size, *c, *l->RootAt(from), root).ok()) << from << "->" << size;
    }
  }
  EXPECT_FALSE(l->ProveInclusion(77, 77).ok());
  EXPECT_FALSE(l->ProveConsistency(5, 78).ok());
}

TEST_F(LedgerTest, NonAllowlistedFieldIsRefusedAndNothingWritten) {
  auto l = OpenOrDie(Options(dir_));
  AppendSamples(*l, 3);
  auto s = l->Append(RecordKind::kIssued, {{"actor", "a"}, {"bearer_token", "eyJhbGciOi..."}});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.status().message()).find("bearer_token"), std::string::npos);
  EXPECT_EQ(l->Append(RecordKind::kCheckpoint, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(l->Append(RecordKind::kIssued, {{"reason", "a\nb"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(l->Size(), 3u);
  EXPECT_EQ(VerifyLedger(dir_)->records, 3u);
}

TEST_F(LedgerTest, PeriodicCheckpointsAreSignedNotesOverThePrefix) {
  auto signer = TestSigner();
  auto o = Options(dir_, signer.get());
  o.checkpoint_every_records = 10;
  {
    auto l = OpenOrDie(o);
    AppendSamples(*l, 35);
    auto note = l->LatestCheckpoint();
    ASSERT_TRUE(note.has_value());
    auto parsed = ParseSignedNote(*note);
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(VerifyNote(*parsed, *ParseNoteVerifier(signer->VerifierKey())).ok());
    auto body = ParseCheckpointBody(parsed->body);
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(body->origin, "taogate.test/ledger");
    EXPECT_EQ(*l->RootAt(body->tree_size), body->root);
    auto cp = l->Read(body->tree_size);
    ASSERT_TRUE(cp.ok());
    EXPECT_EQ(cp->kind, RecordKind::kCheckpoint);
    EXPECT_EQ(*NoteFromCheckpointRecord(*cp), *note);
    EXPECT_EQ(taogate::testing::ReadFile(dir_ + "/checkpoint"), *note);
  }  // closing writes a final checkpoint
  auto v = VerifyLedger(dir_, *ParseNoteVerifier(signer->VerifierKey()));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->checkpoints, 4u);  // at 10, 21, 32 and on close
  EXPECT_EQ(v->signatures_verified, 4u);
  EXPECT_EQ(v->unsigned_tail, 0u);
  EXPECT_TRUE(v->checkpoint_file_checked);
  // The wrong key fails verification at the first checkpoint.
  std::vector<uint8_t> seed(32, 1);
  auto other = *Ed25519Signer::Create("taogate.test/ledger", *crypto::Ed25519PrivateKey::FromSeed(seed));
  auto bad = VerifyLedger(dir_, *ParseNoteVerifier(other->VerifierKey()));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(BadSeq(bad.status()), 10u);
}

TEST_F(LedgerTest, TimedCheckpoint) {
  auto signer = TestSigner();
  auto o = Options(dir_, signer.get());
  o.checkpoint_every = std::chrono::milliseconds(20);
  auto l = OpenOrDie(o);
  AppendSamples(*l, 3);
  for (int i = 0; i < 200 && !l->LatestCheckpoint(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(l->LatestCheckpoint().has_value());
  // The timer fires whenever something is unsigned: after the first, second
  // or third sample, depending on how fast the disk syncs. Some record after
  // the first sample is the checkpoint.
  bool found = false;
  for (uint64_t seq = 1; seq < l->Size(); ++seq) found = found || l->Read(seq)->kind == RecordKind::kCheckpoint;
  EXPECT_TRUE(found);
}

TEST_F(LedgerTest, ConcurrentAppendersGetDenseSeqsAndAnIntactChain) {
  auto signer = TestSigner();
  auto o = Options(dir_, signer.get());
  o.checkpoint_every_records = 500;
  auto l = OpenOrDie(o);
  constexpr int kThreads = 8, kPerThread = 400;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto s = l->Append(RecordKind::kExercised, {{"tao_id", std::to_string(t * kPerThread + i)}});
        ASSERT_TRUE(s.ok()) << s.status();
        got[static_cast<size_t>(t)].push_back(*s);
      }
    });
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& v : got) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), size_t{kThreads * kPerThread});
  // Every seq not returned to a thread is a CHECKPOINT; together they are dense.
  uint64_t n = l->Size();
  for (uint64_t seq = 0; seq < n; ++seq) {
    auto r = l->Read(seq);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(all.count(seq) == 0, r->kind == RecordKind::kCheckpoint) << seq;
  }
  auto v = VerifyLedger(dir_, *ParseNoteVerifier(signer->VerifierKey()));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->records, n);
  EXPECT_GE(v->checkpoints, 6u);
}

TEST_F(LedgerTest, SegmentsRotateAndReadAcrossThem) {
  auto o = Options(dir_);
  o.segment_max_bytes = 2048;
  {
    auto l = OpenOrDie(o);
    AppendSamples(*l, 150);
    EXPECT_EQ(l->Read(149)->fields, SampleFields(149));
  }
  size_t segs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_))
    segs += ParseSegmentFileName(e.path().filename().string()).has_value();
  EXPECT_GT(segs, 5u);
  auto l = OpenOrDie(o);
  AppendSamples(*l, 10);
  for (uint64_t i = 0; i < 160; i += 13) EXPECT_EQ(l->Read(i)->fields, SampleFields(i));
  uint64_t next = 3;
  ASSERT_TRUE(l->Scan(3, [&](const Record& r) {
                 EXPECT_EQ(r.seq, next++);
                 EXPECT_EQ(r.fields, SampleFields(r.seq));
                 return true;
               }).ok());
  EXPECT_EQ(next, 160u);
  auto v = VerifyLedger(dir_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(v->segments, segs);
  EXPECT_EQ(v->records, 160u);
}

TEST_F(LedgerTest, OneWriterManyReaders) {
  auto l = OpenOrDie(Options(dir_));
  AppendSamples(*l, 4);
  EXPECT_EQ(Ledger::Open(Options(dir_)).status().code(), absl::StatusCode::kFailedPrecondition);
  auto ro_opts = Options(dir_);
  ro_opts.read_only = true;
  auto ro = Ledger::Open(ro_opts);
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_EQ((*ro)->Size(), 4u);
  EXPECT_EQ((*ro)->Read(3)->fields, SampleFields(3));
  EXPECT_EQ((*ro)->Append(RecordKind::kIssued, {}).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace taogate::ledger

namespace taogate::ledger {
namespace {

TEST(LedgerLiveTamperTest, ReadAndScanRefuseRecordsChangedUnderAnOpenLedger) {
  taogate::testing::TempDir tmp;
  std::string dir = (tmp.path() / "ledger").string();
  auto l = testing::OpenOrDie(testing::Options(dir));
  testing::AppendSamples(*l, 10);
  std::string seg = testing::SegmentPath(dir);
  testing::FlipByte(seg, testing::FrameOffsets(seg).at(6) + 8 + 40);
  EXPECT_EQ(l->Read(6).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(l->Read(5).ok());
  uint64_t seen = 0;
  absl::Status s = l->Scan(0, [&](const Record&) { return ++seen > 0; });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(BadSeq(s), 6u);
  EXPECT_EQ(seen, 0u);  // the whole chunk is checked before fn sees any of it
}

}  // namespace
}  // namespace taogate::ledger
