// Ledger: the durable, hash-chained, Merkle-provable record of every
// decision. One writer process per directory (flock on DIR/LOCK); any number
// of read-only openers (they never modify files and stop at a torn tail).
//
// Thread safety: every method may be called concurrently. Append uses group
// commit: concurrent appenders share one write + fdatasync; each returns only
// once its own record is durable (or with the error that kept it from being
// written, in which case the record is not in the ledger).
//
// Failure model: a full disk (ENOSPC) or other write error fails the affected
// appends and truncates the segment back, so the ledger stays valid and later
// appends may succeed. An fsync error is unrecoverable in-process (the page
// cache state is unknown): every later Append fails until the ledger is
// reopened, which re-validates the files. Open truncates a torn tail (the
// incomplete final write of a crash) and logs it; it refuses corruption
// anywhere else with the exact seq, file and offset.
//
// Rollback guard: DIR/checkpoint (the last signed tree head) is the ledger's
// high-water mark. A writer's Open refuses with DataLoss, before it changes
// any file, when the records it recovers are fewer than that checkpoint
// covers or their root at its size differs: signed records were lost or
// rewritten, and a CONSUMED record among them would let its TAO be redeemed
// again. Only an operator gets past it (LedgerOptions::accept_loss, i.e.
// `taogatectl ledger recover --accept-loss`). A torn tail after the
// checkpoint is the normal crash case and is still truncated silently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/ledger/log.h"
#include "taogate/ledger/merkle.h"
#include "taogate/ledger/record.h"
#include "taogate/ledger/signer.h"

namespace taogate::ledger {

struct LedgerOptions {
  std::string dir;
  // Signs checkpoints; not owned, must outlive the Ledger. Null: no checkpoints.
  Signer* signer = nullptr;
  // First line of every checkpoint note (identifies this log), e.g. "taogate/node/n1".
  std::string origin = "taogate-ledger";
  // Automatic checkpoints: after this many records (0 = off) and/or every
  // interval when records were added (0 = off). A checkpoint is also written
  // on clean close when records were added since the last one.
  uint64_t checkpoint_every_records = 0;
  std::chrono::milliseconds checkpoint_every{0};
  // false only for benchmarks and tests: Append does not fdatasync.
  bool fsync = true;
  // Tests and benchmarks only: replaces ::fdatasync(fd) for segment appends
  // (e.g. a slow disk). Same contract: 0, or -1 with errno set.
  std::function<int(int fd)> datasync;
  // Open without the writer lock; Append/Checkpoint fail; no recovery.
  bool read_only = false;
  // A new segment starts once the current one reaches this size.
  uint64_t segment_max_bytes = 64ull << 20;
  // Operator recovery only (taogatectl ledger recover --accept-loss; never a
  // daemon): when the rollback guard fails, copy the damaged segments and
  // DIR/checkpoint into DIR/damaged-<unix ns>/, truncate, and append a
  // LOSS_ACCEPTED record that says what was lost.
  bool accept_loss = false;
};

// What Open found and repaired.
struct RecoveryInfo {
  bool truncated_tail = false;
  uint64_t tail_seq = 0;  // seq the dropped bytes would have started at
  std::string file;
  uint64_t offset = 0;
  uint64_t bytes_dropped = 0;
  std::string why;
  // Set only with accept_loss when the rollback guard failed.
  bool loss_accepted = false;
  uint64_t checkpoint_size = 0;   // what DIR/checkpoint covered
  uint64_t recovered_size = 0;    // records kept
  std::string moved_aside_to;     // DIR/damaged-<ns>
  std::string loss;               // the DataLoss message Open would have returned
};

class Ledger final : public Log {
 public:
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const LedgerOptions& options);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends a record and returns its seq once durable. InvalidArgument for a
  // non-allowlisted or invalid field, or kind CHECKPOINT (use Checkpoint()).
  absl::StatusOr<uint64_t> Append(RecordKind kind, Fields fields) override;

  // Number of durable records (= Merkle tree size = next seq).
  uint64_t Size() const override;
  absl::StatusOr<Record> Read(uint64_t seq) const override;
  // Calls fn for records from..Size()-1 in order until it returns false.
  // Records are re-read from disk and CRC-checked.
  absl::Status Scan(uint64_t from, const std::function<bool(const Record&)>& fn) const override;

  absl::StatusOr<Hash> RootAt(uint64_t tree_size) const override;
  absl::StatusOr<InclusionProof> ProveInclusion(uint64_t seq, uint64_t tree_size) const override;
  absl::StatusOr<std::vector<Hash>> ProveConsistency(uint64_t from_size, uint64_t to_size) const override;

  // Signs the current tree (size N = Size()) and appends it as CHECKPOINT
  // record seq N; returns the signed note text once durable. Also replaces
  // DIR/checkpoint. FailedPrecondition without a signer.
  absl::StatusOr<std::string> Checkpoint() override;
  // Latest checkpoint note in this ledger, if any.
  std::optional<std::string> LatestCheckpoint() const override;
  // Room for appends: the directory writable with 8 MiB free (a segment
  // grows in records of at most a few KiB), so /healthz fails before appends.
  absl::Status Writable() const override;
  std::string Where() const override { return options_.dir; }

  const RecoveryInfo& recovery() const { return recovery_; }
  const std::string& dir() const { return options_.dir; }

 private:
  struct Impl;
  explicit Ledger(const LedgerOptions& options);
  absl::Status Load();
  // Appends the records Open owes: LOSS_ACCEPTED, the signer's key record.
  absl::Status AppendOpenRecords();
  // Append without the automatic checkpoint.
  absl::StatusOr<uint64_t> AppendDurable(RecordKind kind, const Fields& fields);

  LedgerOptions options_;
  RecoveryInfo recovery_;
  std::unique_ptr<Impl> impl_;
};

// Checkpoint note for tree size `checkpoint_record.Field("tree_size")`
// reassembled from a CHECKPOINT record.
absl::StatusOr<std::string> NoteFromCheckpointRecord(const Record& r);

}  // namespace taogate::ledger
