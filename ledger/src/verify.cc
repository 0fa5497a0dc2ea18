#include "taogate/ledger/verify.h"

#include <filesystem>
#include <map>
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

// The keys checkpoints must verify with: one fixed key, or (key chain mode)
// per signer (governor replica) the key of its last accepted KEY_ROTATED
// "ledger-checkpoint" record.
struct Keys {
  explicit Keys(const VerifyOptions& options) : o(options) {}
  const VerifyOptions& o;
  struct Current {
    CertifiedKey key;
    std::string id;  // key_id field of the record that made it current
    uint64_t seq = 0;
  };
  std::map<std::string, Current> current;  // by signer
  std::string why_none = "no KEY_ROTATED record with scope ledger-checkpoint precedes it";
  std::vector<NoteVerifier> accepted;

  bool checking() const { return o.key.has_value() || o.key_chain != nullptr; }
  // Follows a KEY_ROTATED record in key chain mode.
  absl::Status Rotate(const Record& r, std::string_view file, uint64_t off) {
    if (r.Field("scope") != "ledger-checkpoint") return absl::OkStatus();
    std::string id(r.Field("key_id").value_or(""));
    if (!r.Field("certificate")) {
      for (const auto& [signer, c] : current)
        if (id == c.id) return absl::OkStatus();  // the same key restated
      current.clear();
      why_none = StrCat("KEY_ROTATED seq ", r.seq, " names checkpoint key ", id,
                        " without its certificate (a governor that did not record certificates)");
      return absl::OkStatus();
    }
    auto k = o.key_chain(r);
    if (!k.ok()) return CorruptionError(r.seq, file, off, StrCat("checkpoint key: ", k.status().message()));
    current[k->signer] = Current{*k, id, r.seq};
    accepted.push_back(k->verifier);
    return absl::OkStatus();
  }
  // OK iff the checkpoint `note` (body already parsed) is signed as required.
  absl::Status Check(const SignedNote& note, const CheckpointBody& body) const {
    if (o.key) return VerifyNote(note, *o.key);
    if (current.empty()) return absl::UnauthenticatedError(StrCat("no certified checkpoint key: ", why_none));
    std::string why;
    for (const auto& [signer, c] : current) {
      absl::Status s = VerifyNote(note, c.key.verifier);
      if (!s.ok()) {
        why += StrCat(why.empty() ? "" : "; ", "not by the key of KEY_ROTATED seq ", c.seq, " (", s.message(), ")");
        continue;
      }
      int64_t ms = body.time_ns / 1'000'000;
      if (ms < c.key.not_before_ms || ms > c.key.not_after_ms)
        return absl::UnauthenticatedError(StrCat("signed at ", ms, " ms, outside its key's certificate window [",
                                                 c.key.not_before_ms, ", ", c.key.not_after_ms, "]"));
      return absl::OkStatus();
    }
    return absl::UnauthenticatedError(StrCat("not signed by a current checkpoint key: ", why));
  }
  // DIR/checkpoint and witness notes: by the fixed key, or any accepted key.
  absl::Status CheckAny(const SignedNote& note) const {
    if (o.key) return VerifyNote(note, *o.key);
    for (const NoteVerifier& v : accepted)
      if (VerifyNote(note, v).ok()) return absl::OkStatus();
    return absl::UnauthenticatedError("not signed by any certified checkpoint key of this ledger");
  }
};

// Checks one CHECKPOINT record at seq N against the tree of the N records before it.
absl::Status CheckCheckpointRecord(const Record& r, const MerkleTree& tree, const Keys& keys, VerifySummary& sum,
                                   std::string_view file, uint64_t off) {
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
  if (keys.checking()) {
    absl::Status s = keys.Check(*parsed, *body);
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
                                  const Keys& keys) {
  auto fail = [&](uint64_t seq, std::string_view why) { return CorruptionError(seq, label, 0, why); };
  auto parsed = ParseSignedNote(text);
  if (!parsed.ok()) return fail(tree.Size(), StrCat("checkpoint note: ", parsed.status().message()));
  auto body = ParseCheckpointBody(parsed->body);
  if (!body.ok()) return fail(tree.Size(), StrCat("checkpoint note: ", body.status().message()));
  if (keys.checking()) {
    absl::Status s = keys.CheckAny(*parsed);
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
    s += StrCat(" (", signatures_verified, " signatures verified");
    if (checkpoint_keys > 0) s += StrCat(" with ", checkpoint_keys, " certified checkpoint keys");
    s += ")";
  } else {
    s += " (signatures NOT checked: no --pubkey)";
  }
  if (last_checkpoint_size) s += StrCat(", last checkpoint at size ", *last_checkpoint_size);
  s += StrCat(", ", unsigned_tail, " records after the last checkpoint");
  if (witness_notes_checked > 0) s += StrCat(", consistent with ", witness_notes_checked, " witness checkpoints");
  return s;
}

absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir, const std::optional<NoteVerifier>& key) {
  return VerifyLedger(dir, VerifyOptions{key, nullptr, {}});
}

absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir, const std::optional<NoteVerifier>& key,
                                           const std::vector<std::string>& witness_notes) {
  return VerifyLedger(dir, VerifyOptions{key, nullptr, witness_notes});
}

absl::StatusOr<VerifySummary> VerifyLedger(const std::string& dir, const VerifyOptions& options) {
  VerifySummary sum;
  MerkleTree tree;
  Keys keys{options};
  const bool chain = !options.key && options.key_chain;
  auto scan = ScanLedger(dir, [&](const RecordHeader& r, std::string_view payload, const std::string& seg, uint64_t off) {
    if (r.kind == RecordKind::kCheckpoint || (chain && r.kind == RecordKind::kKeyRotated)) {
      TG_ASSIGN_OR_RETURN(Record rec, DecodePayload(payload, r.hash));
      if (r.kind == RecordKind::kCheckpoint) {
        TG_RETURN_IF_ERROR(CheckCheckpointRecord(rec, tree, keys, sum, seg, off));
      } else {
        TG_RETURN_IF_ERROR(keys.Rotate(rec, seg, off));
      }
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
  sum.checkpoint_keys = keys.accepted.size();
  std::string path = StrCat(dir, "/checkpoint");
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    TG_RETURN_IF_ERROR(CheckNoteAgainstTree(ss.str(), path, tree, keys));
    sum.checkpoint_file_checked = true;
  }
  for (size_t i = 0; i < options.witness_notes.size(); ++i)
    TG_RETURN_IF_ERROR(CheckNoteAgainstTree(options.witness_notes[i], StrCat("witness note ", i + 1), tree, keys));
  sum.witness_notes_checked = options.witness_notes.size();
  sum.unsigned_tail = sum.last_checkpoint_size ? sum.records - *sum.last_checkpoint_size - 1 : sum.records;
  TG_ASSIGN_OR_RETURN(sum.root, tree.RootAt(tree.Size()));
  return sum;
}

}  // namespace taogate::ledger
