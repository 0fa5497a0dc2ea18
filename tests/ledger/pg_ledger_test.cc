// PgLedger against a real PostgreSQL server started by the test (initdb in a
// temp dir, loopback): migrations, one chain for racing writers, proofs and
// checkpoints across writers, the export that `ledger verify` audits, rows
// changed in the database, and the server going away mid-run.
#include "taogate/ledger/pg_ledger.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "ledger/ledger_testing.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/note.h"
#include "taogate/ledger/verify.h"
#include "taogate/pgstore/pg.h"
#include "testing/postgres.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using taogate::testing::PostgresServer;
using taogate::testing::TempDir;
using testing::SampleFields;
using testing::TestSigner;

class PgLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = PostgresServer::Create();
    if (!pg.ok() && pg.status().code() == absl::StatusCode::kUnavailable) GTEST_SKIP() << pg.status();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    auto db = pg_->CreateDatabase("ledger");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
  }

  std::unique_ptr<PgLedger> OpenOrDie(Signer* signer = nullptr, bool migrate = true) {
    if (migrate) {
      auto m = pgstore::Migrate(conninfo_);
      EXPECT_TRUE(m.ok()) << m.status();
    }
    PgLedgerOptions o;
    o.conninfo = conninfo_;
    o.signer = signer;
    o.origin = "taogate/test";
    auto l = PgLedger::Open(o);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? std::move(*l) : nullptr;
  }

  // Exports to a fresh directory and audits it as `taogatectl ledger verify` does.
  absl::StatusOr<VerifySummary> ExportAndVerify(const Log& l, const std::optional<NoteVerifier>& key) {
    auto count = ExportSegments(l, (dir_.path() / "export").string(), /*segment_max_bytes=*/64 << 10);
    if (!count.ok()) return count.status();
    return VerifyLedger((dir_.path() / "export").string(), key);
  }

  std::unique_ptr<PostgresServer> pg_;
  std::string conninfo_;
  TempDir dir_;
};

TEST_F(PgLedgerTest, OpenRefusesAnUnmigratedDatabaseAndMigrateIsExplicitAndIdempotent) {
  PgLedgerOptions o;
  o.conninfo = conninfo_;
  auto l = PgLedger::Open(o);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_NE(l.status().message().find("taogate-governor migrate"), std::string::npos) << l.status();
  // Open created nothing.
  EXPECT_EQ(*pgstore::SchemaVersion(conninfo_), 0);

  auto first = pgstore::Migrate(conninfo_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), static_cast<size_t>(pgstore::kSchemaVersion));
  EXPECT_EQ(first->back(), pgstore::kSchemaVersion);
  auto again = pgstore::Migrate(conninfo_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(*pgstore::SchemaVersion(conninfo_), pgstore::kSchemaVersion);
  EXPECT_TRUE(PgLedger::Open(o).ok());
}

TEST_F(PgLedgerTest, NewerSchemaIsRefusedByOpenAndMigrate) {
  ASSERT_TRUE(pgstore::Migrate(conninfo_).ok());
  ASSERT_TRUE(pg_->Query("ledger", "INSERT INTO taogate_schema_version (version) VALUES (99)").ok());
  PgLedgerOptions o;
  o.conninfo = conninfo_;
  auto l = PgLedger::Open(o);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(l.status().message().find("newer"), std::string::npos) << l.status();
  EXPECT_EQ(pgstore::Migrate(conninfo_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PgLedgerTest, UnreachableServerIsUnavailable) {
  PgLedgerOptions o;
  o.conninfo = "host=127.0.0.1 port=1 user=taogate dbname=x connect_timeout=2";
  EXPECT_EQ(PgLedger::Open(o).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pgstore::Migrate(o.conninfo).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(PgLedgerTest, AppendsReadBackProveAndExportToALedgerThatVerifies) {
  auto signer = TestSigner();
  auto l = OpenOrDie(signer.get());
  ASSERT_NE(l, nullptr);
  for (uint64_t i = 0; i < 50; ++i) {
    auto seq = l->Append(RecordKind::kIssued, SampleFields(i));
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, i);
  }
  auto note = l->Checkpoint();
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_NE(note->find("taogate/test\n50\n"), std::string::npos) << *note;
  EXPECT_EQ(l->Size(), 51u);
  for (uint64_t i = 50; i < 80; ++i) ASSERT_TRUE(l->Append(RecordKind::kDenied, SampleFields(i)).ok());

  auto r = l->Read(7);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->seq, 7u);
  EXPECT_EQ(r->fields, SampleFields(7));
  EXPECT_EQ(l->Read(81).status().code(), absl::StatusCode::kOutOfRange);

  auto p = l->ProveInclusion(7, 81);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(VerifyInclusion(7, 81, r->hash, p->path, p->root).ok());
  auto c = l->ProveConsistency(51, 81);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(VerifyConsistency(51, 81, *c, *l->RootAt(51), *l->RootAt(81)).ok());

  uint64_t scanned = 0;
  ASSERT_TRUE(l->Scan(0, [&](const Record& rec) { return rec.seq == scanned++; }).ok());
  EXPECT_EQ(scanned, 81u);

  auto sum = ExportAndVerify(*l, *ParseNoteVerifier(signer->VerifierKey()));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->records, 81u);
  EXPECT_EQ(sum->checkpoints, 1u);
  EXPECT_EQ(sum->signatures_verified, 1u);
  EXPECT_TRUE(sum->checkpoint_file_checked);
  EXPECT_EQ(sum->root, *l->RootAt(81));
}

TEST_F(PgLedgerTest, ExportRefusesANonEmptyDirectory) {
  auto l = OpenOrDie();
  ASSERT_NE(l, nullptr);
  std::filesystem::create_directories(dir_.path() / "x");
  taogate::testing::WriteFile(dir_.path() / "x" / "keep", "mine");
  EXPECT_EQ(ExportSegments(*l, (dir_.path() / "x").string()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(taogate::testing::ReadFile(dir_.path() / "x" / "keep"), "mine");
}

// Issue 18: "two replicas racing to append 10,000 records each: one chain".
// Two PgLedgers (two connections each, as two governor replicas have), each
// appended to by 16 threads; each also checkpoints with its own key.
TEST_F(PgLedgerTest, TwoWritersRacingAppendOneGaplessChain) {
  auto key_a = TestSigner();
  auto key_b = std::move(*Ed25519Signer::Create("replica-b", *crypto::Ed25519PrivateKey::Generate()));
  ASSERT_TRUE(pgstore::Migrate(conninfo_).ok());
  auto open = [&](Signer* s) {
    PgLedgerOptions o;
    o.conninfo = conninfo_;
    o.signer = s;
    o.origin = "taogate/test";
    o.checkpoint_every_records = 2500;
    return std::move(*PgLedger::Open(o));
  };
  auto a = open(key_a.get());
  auto b = open(key_b.get());
  constexpr int kThreads = 16, kPerWriter = 10'000;
  std::vector<std::vector<uint64_t>> seqs(2 * kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreads; ++t) {
    threads.emplace_back([&, t] {
      PgLedger& l = t % 2 == 0 ? *a : *b;
      for (int i = t / 2; i < kPerWriter; i += kThreads) {
        auto seq = l.Append(RecordKind::kIssued, SampleFields(static_cast<uint64_t>(i)));
        if (!seq.ok()) {
          ++failures;
          return;
        }
        seqs[static_cast<size_t>(t)].push_back(*seq);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures, 0);
  std::set<uint64_t> all;
  for (const auto& v : seqs) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 2u * kPerWriter);  // no seq handed out twice

  // Both see one tree: the same root at the same size.
  auto na = a->CatchUp(), nb = b->CatchUp();
  ASSERT_TRUE(na.ok() && nb.ok());
  EXPECT_EQ(*na, *nb);
  EXPECT_EQ(*a->RootAt(*na), *b->RootAt(*nb));
  // Records and checkpoints: 20,000 + at least 3 checkpoints from each.
  EXPECT_GE(*na, 2u * kPerWriter + 6);

  // The audit: every record chained, every checkpoint's root matches, both
  // keys' signatures verify.
  auto sum = ExportAndVerify(*a, std::nullopt);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->records, *na);
  uint64_t by_a = 0, by_b = 0;
  ASSERT_TRUE(a->Scan(0, [&](const Record& r) {
                 if (r.kind != RecordKind::kCheckpoint) return true;
                 auto note = NoteFromCheckpointRecord(r);
                 EXPECT_TRUE(note.ok());
                 if (VerifyNote(*ParseSignedNote(*note), *ParseNoteVerifier(key_a->VerifierKey())).ok()) ++by_a;
                 if (VerifyNote(*ParseSignedNote(*note), *ParseNoteVerifier(key_b->VerifierKey())).ok()) ++by_b;
                 return true;
               }).ok());
  EXPECT_GE(by_a, 3u);
  EXPECT_GE(by_b, 3u);
  EXPECT_EQ(by_a + by_b, sum->checkpoints);
}

TEST_F(PgLedgerTest, ARowChangedInTheDatabaseIsRefusedWithItsSeq) {
  {
    auto l = OpenOrDie();
    ASSERT_NE(l, nullptr);
    for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(l->Append(RecordKind::kIssued, SampleFields(i)).ok());
  }
  // The table refuses changes by its trigger ...
  auto upd = pg_->Query("ledger", "UPDATE taogate_ledger SET payload = payload WHERE seq = 5");
  EXPECT_FALSE(upd.ok());
  EXPECT_NE(upd.status().message().find("append-only"), std::string::npos) << upd.status();
  EXPECT_FALSE(pg_->Query("ledger", "DELETE FROM taogate_ledger WHERE seq = 19").ok());
  // ... which the owner can disable: the chain still catches the edit. Flip
  // one byte of a field value in seq 5's payload.
  ASSERT_TRUE(pg_->Query("ledger",
                         "ALTER TABLE taogate_ledger DISABLE TRIGGER taogate_ledger_append_only; "
                         "UPDATE taogate_ledger SET payload = set_byte(payload, length(payload) - 1, "
                         "get_byte(payload, length(payload) - 1) # 1) WHERE seq = 5")
                  .ok());
  PgLedgerOptions o;
  o.conninfo = conninfo_;
  auto l = PgLedger::Open(o);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kDataLoss) << l.status();
  EXPECT_NE(l.status().message().find("seq 5"), std::string::npos) << l.status();

  // A deleted row is a gap, named too.
  ASSERT_TRUE(pg_->Query("ledger", "DELETE FROM taogate_ledger WHERE seq = 5").ok());
  l = PgLedger::Open(o);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kDataLoss) << l.status();
  EXPECT_NE(l.status().message().find("seq 5 missing"), std::string::npos) << l.status();
}

// The database goes away mid-run: appends fail Unavailable (nothing is
// half-written), /healthz's check fails, and once it is back appends resume
// at the next seq with the chain intact.
TEST_F(PgLedgerTest, ServerDownFailsAppendsAndTheyResumeWithoutAGap) {
  auto l = OpenOrDie();
  ASSERT_NE(l, nullptr);
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(l->Append(RecordKind::kIssued, SampleFields(i)).ok());
  EXPECT_TRUE(l->Writable().ok());

  pg_->Crash();
  auto down = l->Append(RecordKind::kIssued, SampleFields(10));
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_EQ(l->Writable().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(l->Size(), 10u);

  ASSERT_TRUE(pg_->Start().ok());
  EXPECT_TRUE(l->Writable().ok());
  auto seq = l->Append(RecordKind::kIssued, SampleFields(11));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 10u);
  auto sum = ExportAndVerify(*l, std::nullopt);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->records, 11u);
}

// A reader replica sees another's records and checkpoint, and proves them.
TEST_F(PgLedgerTest, AReplicaProvesRecordsAnotherAppended) {
  auto key = TestSigner();
  auto writer = OpenOrDie(key.get());
  ASSERT_NE(writer, nullptr);
  PgLedgerOptions o;
  o.conninfo = conninfo_;
  o.read_only = true;
  auto reader = PgLedger::Open(o);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->Size(), 0u);
  for (uint64_t i = 0; i < 30; ++i) ASSERT_TRUE(writer->Append(RecordKind::kIssued, SampleFields(i)).ok());
  ASSERT_TRUE(writer->Checkpoint().ok());
  auto p = (*reader)->ProveInclusion(12, 30);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->root, *writer->RootAt(30));
  EXPECT_EQ((*reader)->LatestCheckpoint(), writer->LatestCheckpoint());
  EXPECT_EQ((*reader)->Append(RecordKind::kIssued, SampleFields(0)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// The auditor's path: taogatectl reads the database and writes the segment
// files `ledger verify` checks, unchanged.
TEST_F(PgLedgerTest, TaogatectlExportsAndReadsThePostgresLedger) {
  using taogate::testing::BinPath;
  using taogate::testing::RunCommand;
  auto key = TestSigner();
  auto l = OpenOrDie(key.get());
  ASSERT_NE(l, nullptr);
  for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(l->Append(RecordKind::kIssued, SampleFields(i)).ok());
  ASSERT_TRUE(l->Checkpoint().ok());
  const std::string out = (dir_.path() / "exported").string();
  auto e = RunCommand({BinPath("taogatectl"), "ledger", "export", "--postgres", conninfo_, "--out", out});
  ASSERT_EQ(e.exit_code, 0) << e.out << e.err;
  EXPECT_NE(e.out.find("exported 21 records"), std::string::npos) << e.out;
  taogate::testing::WriteFile(dir_.path() / "vkey", key->VerifierKey());
  auto v = RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", out, "--pubkey",
                       (dir_.path() / "vkey").string()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto show = RunCommand({BinPath("taogatectl"), "ledger", "show", "--postgres", conninfo_, "--seq", "3"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("\"seq\": 3"), std::string::npos) << show.out;
  // A second export into the same directory is refused; nothing is lost.
  auto again = RunCommand({BinPath("taogatectl"), "ledger", "export", "--postgres", conninfo_, "--out", out});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;
  EXPECT_EQ(RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", out}).exit_code, 0);
}

}  // namespace
}  // namespace taogate::ledger
