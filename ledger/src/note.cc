#include "taogate/ledger/note.h"

#include <charconv>

#include "taogate/common/crypto.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"

namespace taogate::ledger {
namespace {

constexpr std::string_view kDash = "\xE2\x80\x94 ";  // U+2014 EM DASH, space

template <typename T>
bool ParseDecimal(std::string_view s, T& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string FormatCheckpointBody(const CheckpointBody& cp) {
  return StrCat(cp.origin, "\n", cp.tree_size, "\n", Base64Encode(cp.root), "\ntime ", cp.time_ns, "\n");
}

absl::StatusOr<CheckpointBody> ParseCheckpointBody(std::string_view body) {
  auto bad = [](std::string_view why) { return absl::InvalidArgumentError(StrCat("checkpoint body: ", why)); };
  std::vector<std::string_view> lines;
  while (!body.empty()) {
    size_t nl = body.find('\n');
    if (nl == std::string_view::npos) return bad("missing final newline");
    lines.push_back(body.substr(0, nl));
    body.remove_prefix(nl + 1);
  }
  if (lines.size() != 4) return bad("want 4 lines");
  CheckpointBody cp;
  cp.origin = std::string(lines[0]);
  if (cp.origin.empty()) return bad("empty origin");
  if (!ParseDecimal(lines[1], cp.tree_size)) return bad("bad tree size");
  auto root = Base64Decode(lines[2]);
  if (!root.ok() || root->size() != 32) return bad("bad root hash");
  std::copy(root->begin(), root->end(), reinterpret_cast<char*>(cp.root.data()));
  if (!lines[3].starts_with("time ") || !ParseDecimal(lines[3].substr(5), cp.time_ns))
    return bad("bad time line");
  return cp;
}

std::string EncodeNoteSignature(uint32_t key_hash, std::string_view sig) {
  std::string raw;
  for (int s = 24; s >= 0; s -= 8) raw.push_back(static_cast<char>((key_hash >> s) & 0xff));
  raw.append(sig);
  return Base64Encode(raw);
}

absl::StatusOr<NoteSignature> DecodeNoteSignature(std::string_view key_name, std::string_view b64) {
  auto raw = Base64Decode(b64);
  if (!raw.ok() || raw->size() < 5) return absl::InvalidArgumentError("note signature: bad base64");
  NoteSignature s;
  s.key_name = std::string(key_name);
  for (int i = 0; i < 4; ++i) s.key_hash = s.key_hash << 8 | static_cast<uint8_t>((*raw)[i]);
  s.signature = raw->substr(4);
  return s;
}

std::string FormatSignatureLine(std::string_view key_name, uint32_t key_hash, std::string_view sig) {
  return StrCat(kDash, key_name, " ", EncodeNoteSignature(key_hash, sig), "\n");
}

absl::StatusOr<std::string> SignNote(std::string_view body, Signer& signer) {
  TG_ASSIGN_OR_RETURN(std::string sig, signer.Sign(body));
  return StrCat(body, "\n", FormatSignatureLine(signer.KeyName(), signer.KeyHash(), sig));
}

absl::StatusOr<SignedNote> ParseSignedNote(std::string_view text) {
  size_t split = text.rfind("\n\n");
  if (split == std::string_view::npos) return absl::InvalidArgumentError("note: no signature block");
  SignedNote n;
  n.body = std::string(text.substr(0, split + 1));
  std::string_view sigs = text.substr(split + 2);
  while (!sigs.empty()) {
    size_t nl = sigs.find('\n');
    if (nl == std::string_view::npos) return absl::InvalidArgumentError("note: unterminated signature line");
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (!line.starts_with(kDash)) return absl::InvalidArgumentError("note: malformed signature line");
    line.remove_prefix(kDash.size());
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return absl::InvalidArgumentError("note: malformed signature line");
    TG_ASSIGN_OR_RETURN(NoteSignature s, DecodeNoteSignature(line.substr(0, sp), line.substr(sp + 1)));
    n.signatures.push_back(std::move(s));
  }
  if (n.signatures.empty()) return absl::InvalidArgumentError("note: no signatures");
  return n;
}

absl::Status VerifyNoteSignature(std::string_view body, const NoteSignature& sig,
                                 const NoteVerifier& verifier) {
  if (!verifier.name.empty() && sig.key_name != verifier.name)
    return absl::UnauthenticatedError(StrCat("signature by '", sig.key_name, "', want '", verifier.name, "'"));
  if (sig.key_hash != Ed25519KeyHash(sig.key_name, verifier.public_key))
    return absl::UnauthenticatedError(StrCat("signature key hash does not match the key of '", sig.key_name, "'"));
  absl::Status s = crypto::Ed25519Verify(verifier.public_key, crypto::AsBytes(body), crypto::AsBytes(sig.signature));
  if (!s.ok()) return absl::UnauthenticatedError(StrCat("bad signature by '", sig.key_name, "'"));
  return absl::OkStatus();
}

absl::Status VerifyNote(const SignedNote& note, const NoteVerifier& verifier) {
  absl::Status last = absl::UnauthenticatedError("note: no signature by the given key");
  for (const auto& s : note.signatures) {
    absl::Status st = VerifyNoteSignature(note.body, s, verifier);
    if (st.ok()) return st;
    last = st;
  }
  return last;
}

}  // namespace taogate::ledger
