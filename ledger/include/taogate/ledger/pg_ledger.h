// PgLedger: the ledger in PostgreSQL, one chain for any number of writers
// (governor replicas), each with its own checkpoint key.
//
// Schema (pgstore::Migrate creates it, `taogate-governor migrate`;
// docs/ledger.md, "PostgreSQL backend"):
//   taogate_ledger(seq, payload, leaf_hash)   one row per record: the exact
//       payload bytes a segment file would hold (record.h), append-only (a
//       trigger refuses UPDATE and DELETE);
//   taogate_ledger_head(next_seq, last_hash)  one row: the chain's tip.
// An append is one transaction: lock the head row (SELECT ... FOR UPDATE),
// encode the records at next_seq chained on last_hash, insert them, move the
// head, commit. The row lock serialises writers across replicas, so seqs are
// gapless and the chain cannot fork; a transaction that fails leaves nothing.
// Durability is the server's: commit returns after the WAL is flushed with
// synchronous_commit on (its default), and on the synchronous standbys if the
// operator configured them.
//
// Each process keeps the Merkle tree of the records it has read, and catches
// up (reading, decoding and re-checking the chain of every record it has not
// seen) before a read, proof or checkpoint past it. Opening reads the whole
// ledger once this way: a row changed in the database is refused with the seq
// (DataLoss), as Ledger::Open refuses a changed segment.
//
// Group commit: concurrent appenders in one process share a transaction.
//
// Not covered (docs/ledger.md): a database rolled back to an earlier state as
// a whole (a restored backup) is not detected by Open; `taogatectl ledger
// verify --witness` with kept checkpoint notes catches it.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/ledger/log.h"
#include "taogate/ledger/signer.h"

namespace taogate::ledger {

struct PgLedgerOptions {
  // libpq connection string ("host=... dbname=... user=..." or a URI). A
  // password belongs in a password file (PGPASSFILE), not here.
  std::string conninfo;
  Signer* signer = nullptr;  // not owned; null: no checkpoints
  // First line of every checkpoint note: the log's name, the same for every
  // replica (the signature line names the replica's key).
  std::string origin = "taogate-ledger";
  uint64_t checkpoint_every_records = 0;  // by this process's appends; 0 = off
  std::chrono::milliseconds checkpoint_every{0};
  bool read_only = false;  // Append/Checkpoint fail
  // Records per transaction at most (group commit).
  size_t max_batch = 256;
};

class PgLedger final : public Log {
 public:
  // FailedPrecondition when the schema is missing or of another version
  // (`taogate-governor migrate`); Unavailable when the server is unreachable.
  static absl::StatusOr<std::unique_ptr<PgLedger>> Open(const PgLedgerOptions& options);
  ~PgLedger() override;
  PgLedger(const PgLedger&) = delete;
  PgLedger& operator=(const PgLedger&) = delete;

  absl::StatusOr<uint64_t> Append(RecordKind kind, Fields fields) override;
  uint64_t Size() const override;
  absl::StatusOr<Record> Read(uint64_t seq) const override;
  absl::Status Scan(uint64_t from, const std::function<bool(const Record&)>& fn) const override;
  absl::StatusOr<Hash> RootAt(uint64_t tree_size) const override;
  absl::StatusOr<InclusionProof> ProveInclusion(uint64_t seq, uint64_t tree_size) const override;
  absl::StatusOr<std::vector<Hash>> ProveConsistency(uint64_t from_size, uint64_t to_size) const override;
  absl::StatusOr<std::string> Checkpoint() override;
  std::optional<std::string> LatestCheckpoint() const override;
  // The server answers (a round trip on the reader connection).
  absl::Status Writable() const override;
  std::string Where() const override;

  // Reads records other writers appended since the last catch-up; returns the
  // new size. Reads, proofs and checkpoints call it as needed.
  absl::StatusOr<uint64_t> CatchUp() const;

 private:
  struct Impl;
  explicit PgLedger(const PgLedgerOptions& options);
  absl::Status AppendOpenRecords();
  absl::StatusOr<uint64_t> AppendDurable(RecordKind kind, const Fields& fields);

  PgLedgerOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace taogate::ledger
