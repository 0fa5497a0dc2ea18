// Offline audit of a whole ledger directory: framing, CRCs, dense seqs, the
// hash chain, the Merkle root in every CHECKPOINT record, checkpoint
// signatures (when given the public key) and DIR/checkpoint. Needs only the
// files and the public key; never writes. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/ledger/merkle.h"
#include "taogate/ledger/record.h"
#include "taogate/ledger/signer.h"

namespace taogate::ledger {

struct VerifySummary {
  uint64_t records = 0;
  uint64_t segments = 0;
  uint64_t payload_bytes = 0;
  uint64_t checkpoints = 0;
  uint64_t signatures_verified = 0;  // 0 without a key
  uint64_t checkpoint_keys = 0;      // KEY_ROTATED checkpoint keys accepted (key chain mode)
  std::optional<uint64_t> last_checkpoint_size;
  // Records after the last signed checkpoint: protected against alteration by
  // the chain, but not against a forged extension (nothing signed covers them).
  uint64_t unsigned_tail = 0;
  bool checkpoint_file_checked = false;
  uint64_t witness_notes_checked = 0;
  Hash root{};

  // "ledger OK: 1000 records in 1 segments, root ..., 10 checkpoints (10 signatures verified), ..."
  std::string OneLine() const;
};

// OK with a summary when intact. Otherwise DataLoss naming the first bad seq,
// file, offset and why ("seq 17 (DIR/seg-...log offset 4242): CRC32C
// mismatch"); BadSeq(status) (segment.h) returns the seq. Corruption includes
// a torn tail (Open would truncate it) and, with a key, any checkpoint whose
// signature does not verify. NotFound/Unavailable for an unreadable directory.
absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir,
                                           const std::optional<NoteVerifier>& key = std::nullopt);
// Also checks checkpoint notes kept elsewhere (witnesses, an auditor's earlier
// copy): each must verify (with a key) and match a prefix of this ledger, so
// records removed together with DIR/checkpoint are still caught.
absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir, const std::optional<NoteVerifier>& key,
                                           const std::vector<std::string>& witness_notes);

// A checkpoint key as vouched for by a KEY_ROTATED record's certificate.
struct CertifiedKey {
  NoteVerifier verifier;
  int64_t not_before_ms = 0;  // checkpoints it signs must lie in this window
  int64_t not_after_ms = INT64_MAX;
  // Whose key it is (the governor replica: its certificate's instance). A
  // new key replaces only the same signer's: replicas sharing one ledger
  // (PostgreSQL) each sign with their own current key.
  std::string signer;
};
// Checks the certificate a KEY_ROTATED record (scope "ledger-checkpoint")
// carries, e.g. its chain to a trust bundle at the record's time; any error
// fails the audit at that record.
using CheckpointKeyCheck = std::function<absl::StatusOr<CertifiedKey>(const Record& key_rotated)>;

struct VerifyOptions {
  // One key for every checkpoint (node ledgers).
  std::optional<NoteVerifier> key;
  // Or follow the keys through the ledger (governor ledgers, a new key per
  // start): each CHECKPOINT must be signed, within that key's window, by the
  // key of the last KEY_ROTATED "ledger-checkpoint" record before it of one
  // signer (CertifiedKey::signer: one per governor replica), as accepted by
  // this check. DIR/checkpoint and witness notes must be
  // signed by one of the accepted keys.
  CheckpointKeyCheck key_chain;
  // Checkpoint notes kept elsewhere, as above.
  std::vector<std::string> witness_notes;
};
absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir, const VerifyOptions& options);

}  // namespace taogate::ledger
