#include "taogate/ledger/verify.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/note.h"
#include "taogate/ledger/record.h"
#include "taogate/ledger/segment.h"

namespace taogate::ledger {
namespace {

// Checks one CHECKPOINT record at seq N against the tree of the N records before it.
absl::Status CheckCheckpointRecord(const Record& r, const MerkleTree& tree, const std::optional<NoteVerifier>& key,
                                   VerifySummary& sum, std::string_view file, uint64_t off) {
  auto fail = [&](std::string_view why) { return CorruptionError(r.seq, file, off, why); };
  auto note = NoteFromCheckpointRecord(r);
  if (!note.ok()) return fail(StrCat("checkpoint: ", note.status().message()));
  auto parsed = ParseSignedNote(*note);
  if (!parsed.ok()) return fail(StrCat("checkpoint: ", parsed.status().message()));
  auto body = ParseCheckpointBody(parsed->body);
  if (!body.ok()) return fail(StrCat("checkpoint: ", body.status().message()));
  if (body->tree_size != r.seq)
    return fail(StrCat("checkpoint claims tree size ", body->tree_size, " at seq ", r.seq));
  auto root = tree.RootAt(body->tree_size);
  if (!root.ok() || *root != body->root)
    return fail(StrCat("checkpoint root hash does not match the Merkle root of records 0..", r.seq,
                       " (some earlier record was altered)"));
  if (key) {
    absl::Status s = VerifyNote(*parsed, *key);
    if (!s.ok()) return fail(StrCat("checkpoint signature: ", s.message()));
    ++sum.signatures_verified;
  }
  ++sum.checkpoints;
  sum.last_checkpoint_size = body->tree_size;
  return absl::OkStatus();
}

// A signed note (DIR/checkpoint or a witness's copy) must describe a prefix of
// this ledger: catches removal of records at a record boundary, which the
// chain alone cannot see.
absl::Status CheckNoteAgainstTree(std::string_view text, const std::string& label, const MerkleTree& tree,
                                  const std::optional<NoteVerifier>& key) {
  auto fail = [&](uint64_t seq, std::string_view why) { return CorruptionError(seq, label, 0, why); };
  auto parsed = ParseSignedNote(text);
  if (!parsed.ok()) return fail(tree.Size(), StrCat("checkpoint note: ", parsed.status().message()));
  auto body = ParseCheckpointBody(parsed->body);
  if (!body.ok()) return fail(tree.Size(), StrCat("checkpoint note: ", body.status().message()));
  if (key) {
    absl::Status s = VerifyNote(*parsed, *key);
    if (!s.ok()) return fail(body->tree_size, StrCat("checkpoint note signature: ", s.message()));
  }
  if (body->tree_size > tree.Size())
    return fail(tree.Size(), StrCat("checkpoint note covers ", body->tree_size, " records but the ledger has ",
                                    tree.Size(), ": records from seq ", tree.Size(), " were removed"));
  auto root = tree.RootAt(body->tree_size);
  if (!root.ok() || *root != body->root)
    return fail(body->tree_size == 0 ? 0 : body->tree_size - 1,
                StrCat("checkpoint note root does not match records 0..", body->tree_size - 1,
                       ": the ledger was rewritten"));
  return absl::OkStatus();
}

}  // namespace

std::string VerifySummary::OneLine() const {
  std::string s = StrCat("ledger OK: ", records, " records in ", segments, " segments, root ",
                         Base64Encode(root), ", ", checkpoints, " checkpoints");
  if (signatures_verified > 0 || checkpoints == 0) {
    s += StrCat(" (", signatures_verified, " signatures verified)");
  } else {
    s += " (signatures NOT checked: no --pubkey)";
  }
  if (last_checkpoint_size) s += StrCat(", last checkpoint at size ", *last_checkpoint_size);
  s += StrCat(", ", unsigned_tail, " records after the last checkpoint");
  if (witness_notes_checked > 0) s += StrCat(", consistent with ", witness_notes_checked, " witness checkpoints");
  return s;
}

absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir, const std::optional<NoteVerifier>& key) {
  return VerifyLedger(dir, key, {});
}

absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir, const std::optional<NoteVerifier>& key,
                                           const std::vector<std::string>& witness_notes) {
  VerifySummary sum;
  MerkleTree tree;
  auto scan = ScanLedger(dir, [&](const RecordHeader& r, std::string_view payload, const std::string& seg, uint64_t off) {
    if (r.kind == RecordKind::kCheckpoint) {
      TG_ASSIGN_OR_RETURN(Record cp, DecodePayload(payload, r.hash));
      TG_RETURN_IF_ERROR(CheckCheckpointRecord(cp, tree, key, sum, seg, off));
    }
    tree.Append(r.hash);
    return absl::OkStatus();
  });
  if (!scan.ok()) return scan.status();
  if (scan->torn_tail) {
    const TornTail& t = *scan->torn_tail;
    return CorruptionError(t.seq, scan->segments[t.segment].path, t.offset,
                           StrCat("torn tail: ", t.why, " (", t.bytes,
                                  " bytes at the end; a crash mid-write or truncation; opening the ledger "
                                  "for writing truncates them)"));
  }
  sum.records = scan->records;
  sum.segments = scan->segments.size();
  sum.payload_bytes = scan->payload_bytes;
  std::string path = StrCat(dir, "/checkpoint");
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    TG_RETURN_IF_ERROR(CheckNoteAgainstTree(ss.str(), path, tree, key));
    sum.checkpoint_file_checked = true;
  }
  for (size_t i = 0; i < witness_notes.size(); ++i)
    TG_RETURN_IF_ERROR(CheckNoteAgainstTree(witness_notes[i], StrCat("witness note ", i + 1), tree, key));
  sum.witness_notes_checked = witness_notes.size();
  sum.unsigned_tail = sum.last_checkpoint_size ? sum.records - *sum.last_checkpoint_size - 1 : sum.records;
  TG_ASSIGN_OR_RETURN(sum.root, tree.RootAt(tree.Size()));
  return sum;
}

}  // namespace taogate::ledger
