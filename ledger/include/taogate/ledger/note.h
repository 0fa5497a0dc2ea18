// Checkpoints as C2SP signed notes (https://c2sp.org/signed-note,
// https://c2sp.org/tlog-checkpoint). The body is
//   "<origin>\n<tree size>\n<base64 root hash>\ntime <unix ns>\n"
// followed by an empty line and one or more signature lines
//   "— <key name> <base64(4-byte key hash || signature)>\n"
// ("—" is U+2014 EM DASH). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/ledger/merkle.h"
#include "taogate/ledger/signer.h"

namespace taogate::ledger {

struct CheckpointBody {
  std::string origin;
  uint64_t tree_size = 0;
  Hash root{};
  int64_t time_ns = 0;
};

struct NoteSignature {
  std::string key_name;
  uint32_t key_hash = 0;
  std::string signature;  // raw bytes, without the key hash
};

struct SignedNote {
  std::string body;  // exact signed text, ends with '\n'
  std::vector<NoteSignature> signatures;
};

std::string FormatCheckpointBody(const CheckpointBody& cp);
// InvalidArgument unless `body` is exactly what FormatCheckpointBody makes.
absl::StatusOr<CheckpointBody> ParseCheckpointBody(std::string_view body);

// "— name base64(key_hash || sig)\n"
std::string FormatSignatureLine(std::string_view key_name, uint32_t key_hash, std::string_view sig);
// base64(key_hash || sig), as stored in a CHECKPOINT record's signature field.
std::string EncodeNoteSignature(uint32_t key_hash, std::string_view sig);
absl::StatusOr<NoteSignature> DecodeNoteSignature(std::string_view key_name, std::string_view b64);

// Signs `body` with `signer` and returns the whole note text.
absl::StatusOr<std::string> SignNote(std::string_view body, Signer& signer);
absl::StatusOr<SignedNote> ParseSignedNote(std::string_view text);
// OK iff one of the note's signatures is by `verifier` and verifies.
// Unauthenticated otherwise.
absl::Status VerifyNote(const SignedNote& note, const NoteVerifier& verifier);
// Checks one (name, key hash, Ed25519 signature) over `body`.
absl::Status VerifyNoteSignature(std::string_view body, const NoteSignature& sig,
                                 const NoteVerifier& verifier);

}  // namespace taogate::ledger
