// Private state of Ledger, shared by ledger.cc (open, recovery, reads,
// proofs) and ledger_append.cc (group commit, checkpoints).
//
// Locks, always taken in this order: checkpoint_mu -> mu -> state_mu.
//   mu        guards the append side: next_seq, last_hash, pending, flushing,
//             group commit sizing, barrier, broken, checkpoint bookkeeping.
//   state_mu  guards what readers see: segments, offsets, tree.
// write_offset and the current segment's file are touched only by the one
// leader (flushing == true), which runs without mu while it writes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint_loop.h"
#include "taogate/common/fd.h"
#include "taogate/ledger/ledger.h"

namespace taogate::ledger {

// One record waiting for durability; lives on its appender's stack.
struct Pending {
  uint64_t seq = 0;
  Hash hash{};
  std::string frame;
  bool done = false;
  absl::Status status;
};

// A leader never gathers longer than this, however slow the disk.
inline constexpr int64_t kMaxGatherNs = 10'000'000;

struct SegmentFile {
  uint64_t first_seq = 0;
  std::string path;
  UniqueFd fd;
};

struct Ledger::Impl {
  LedgerOptions options;

  mutable std::shared_mutex state_mu;
  std::vector<SegmentFile> segments;  // sorted by first_seq
  std::vector<uint64_t> offsets;      // frame offset of seq i in its segment
  MerkleTree tree;
  std::atomic<uint64_t> durable_size{0};

  UniqueFd lock_fd;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t next_seq = 0;
  Hash last_hash{};
  std::vector<Pending*> pending;
  bool flushing = false;
  // Group commit sizing (see ledger_append.cc): appenders in the last cycle,
  // recent flush (write + sync) time, and a leader waiting for them.
  size_t expected_batch = 1;
  int64_t flush_ns = 0;
  bool gathering = false;
  std::condition_variable gather_cv;
  bool barrier = false;  // a checkpoint is draining the queue
  absl::Status broken;   // sticky fsync failure
  uint64_t write_offset = 0;

  std::mutex checkpoint_mu;
  std::optional<uint64_t> last_checkpoint_size;  // mu
  std::optional<std::string> latest_note;        // mu
  // key_id of the last KEY_ROTATED record per scope (set by Open's scan).
  std::map<std::string, std::string> key_by_scope;
  internal::CheckpointLoop checkpointer;

  // Records appended since the last checkpoint (mu held).
  uint64_t SinceCheckpoint() const {
    return last_checkpoint_size ? next_seq - (*last_checkpoint_size + 1) : next_seq;
  }
  // Assigns the next seq and chains the record (mu held).
  void Enqueue(Pending& p, RecordKind kind, const Fields& fields, int64_t time_ns);
  // Returns once p is done, leading flushes as needed (mu held via lk).
  void WaitDurable(std::unique_lock<std::mutex>& lk, Pending& p);
  void Flush(std::unique_lock<std::mutex>& lk);
  absl::Status StartSegment(uint64_t first_seq);
  size_t SegmentIndex(uint64_t seq) const;  // state_mu held
  absl::StatusOr<Record> ReadLocked(uint64_t seq) const;  // state_mu held
  // Appends records seq.. (at most ~1 MiB, one segment, < n) to out; takes state_mu.
  absl::Status ReadBatch(uint64_t seq, uint64_t n, std::vector<Record>& out) const;
};

}  // namespace taogate::ledger
