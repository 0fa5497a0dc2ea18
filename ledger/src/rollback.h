// The open-time rollback guard (see ledger.h): DIR/checkpoint, the last signed
// tree head, against the records a writer's Open recovered; and the operator
// path past it (move the damage aside). Private to ledger.cc. Thread-safe (no
// shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/ledger/merkle.h"
#include "taogate/ledger/segment.h"

namespace taogate::ledger::rollback {

// What DIR/checkpoint says: the ledger had at least `size` records with this
// root. The signature is not checked here (the key may be a previous run's).
struct Mark {
  uint64_t size = 0;
  Hash root{};
  std::string path;
};

// nullopt if DIR/checkpoint does not exist; DataLoss naming the file if it
// cannot be read or is not a checkpoint note.
absl::StatusOr<std::optional<Mark>> ReadMark(const std::string& dir);

// OK iff `tree` (the recovered records, torn tail excluded) holds the marked
// tree: size >= mark.size and the same root at mark.size. Otherwise DataLoss
// (CorruptionError: BadSeq = first seq lost, or mark.size - 1 for a rewrite)
// naming the checkpoint size, the recovered size, the files, and the way out.
absl::Status Check(const Mark& mark, const MerkleTree& tree, const std::string& dir, const ScanOutcome& scan);

// Operator path: copies the segment(s) holding seqs from `from_seq` on (the
// last one, which is truncated or appended to next, by value; earlier ones
// by hard link) and moves DIR/checkpoint into a
// new DIR/damaged-<unix ns>/, fsynced. Returns that directory.
absl::StatusOr<std::string> MoveAside(const std::string& dir, const ScanOutcome& scan, uint64_t from_seq);

}  // namespace taogate::ledger::rollback
