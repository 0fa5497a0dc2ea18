// Log: what a ledger's users (the governor, its API, its metrics) need of it,
// whatever stores it. Two implementations:
//   Ledger    (ledger.h)     segment files in one directory, one writer.
//   PgLedger  (pg_ledger.h)  rows in PostgreSQL, any number of writers
//                            (governor replicas) sharing one chain.
// Both produce byte-identical records (record.h), the same RFC 6962 tree and
// the same signed checkpoints, so proofs, checkpoints and the offline audit
// (verify.h, over a directory `taogatectl ledger export` wrote) do not depend
// on the backend.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/ledger/merkle.h"
#include "taogate/ledger/record.h"

namespace taogate::ledger {

struct InclusionProof {
  uint64_t seq = 0;
  uint64_t tree_size = 0;
  Hash leaf_hash{};
  Hash root{};
  std::vector<Hash> path;
};

class Log {
 public:
  virtual ~Log() = default;

  // Appends a record and returns its seq once durable. InvalidArgument for a
  // non-allowlisted or invalid field, or kind CHECKPOINT (use Checkpoint()).
  virtual absl::StatusOr<uint64_t> Append(RecordKind kind, Fields fields) = 0;
  // Durable records this process knows of (= Merkle tree size = next seq).
  // Other writers may have appended more (PgLedger); reads and proofs past
  // it catch up first.
  virtual uint64_t Size() const = 0;
  virtual absl::StatusOr<Record> Read(uint64_t seq) const = 0;
  // Calls fn for records from..Size()-1 in order until it returns false.
  virtual absl::Status Scan(uint64_t from, const std::function<bool(const Record&)>& fn) const = 0;
  virtual absl::StatusOr<Hash> RootAt(uint64_t tree_size) const = 0;
  virtual absl::StatusOr<InclusionProof> ProveInclusion(uint64_t seq, uint64_t tree_size) const = 0;
  virtual absl::StatusOr<std::vector<Hash>> ProveConsistency(uint64_t from_size, uint64_t to_size) const = 0;
  // Signs the tree of every record before it and appends the CHECKPOINT
  // record at seq = tree size; returns the signed note once durable.
  virtual absl::StatusOr<std::string> Checkpoint() = 0;
  virtual std::optional<std::string> LatestCheckpoint() const = 0;
  // Whether an append could succeed now, for /healthz: room on the disk, or
  // the database reachable. Cheap enough for every scrape.
  virtual absl::Status Writable() const = 0;
  // Where the records are, for logs and status: a directory, or
  // "postgresql host:port/dbname".
  virtual std::string Where() const = 0;
};

// Writes every record of `log` (from seq 0) to `dir` as segment files, in the
// format Ledger writes, with DIR/checkpoint holding the latest checkpoint
// note: `taogatectl ledger verify DIR` and every offline audit tool then work
// on it unchanged. Each record is re-encoded and must hash to its stored leaf
// (DataLoss otherwise). `dir` must be empty or absent. Returns the count.
absl::StatusOr<uint64_t> ExportSegments(const Log& log, const std::string& dir,
                                        uint64_t segment_max_bytes = 64ull << 20);

}  // namespace taogate::ledger
