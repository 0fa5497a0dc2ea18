#include "taogate/ledger/record.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/crc32c.h"
#include "taogate/ledger/ledger_format.h"

namespace taogate::ledger {
namespace {

constexpr std::array<std::string_view, 62> kAllowed = {
    "tao_id", "tao_sha256", "cgroup_id", "node_id", "pod_uid", "actor", "workload",
    "action_class", "target", "proto", "addr", "port", "path", "reason_code", "reason",
    "decision", "decision_id", "policy_sha256", "rule", "key_id", "previous_key_id",
    "cert_sha256", "scope", "approver", "approvals", "approvals_required", "nonce_sha256",
    "not_before", "expires_at", "ttl_s", "ticket", "verdict", "count", "pid", "uid", "event",
    "component", "version", "error", "tao_ids", "issued_seq", "first_seen_ms", "last_seen_ms",
    "added", "removed", "not_enforced", "certificate", "annotations", "chain", "exe", "held_ms",
    "file_sha256", "previous_sha256", "serial", "previous_serial", "not_after",
    "credential_id", "public_key", "authenticator_data", "client_data", "assertion", "intent_sha256"};
constexpr std::array<std::string_view, 6> kCheckpointOnly = {
    "origin", "tree_size", "root_hash", "time_ns", "key_name", "signature"};
constexpr std::array<std::string_view, kMaxRecordKind + 1> kKindNames = {
    "", "ISSUED", "DENIED", "APPROVAL", "CONSUMED", "EXERCISED", "REJECTED", "KILLSWITCH",
    "POLICY_ACTIVATED", "BREAK_GLASS", "KEY_ROTATED", "CHECKPOINT", "APPROVAL_REQUESTED",
    "EXPIRED", "STARTED", "LOSS_ACCEPTED", "WORKLOAD", "HOLD", "WOULD_DENY", "RELOADED",
    "APPROVER_ENROLLED"};

void PutU16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetLE(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > format::kMaxFieldNameSize) return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace

std::string KindName(RecordKind kind) {
  auto v = static_cast<uint16_t>(kind);
  if (v == 0 || v > kMaxRecordKind) return StrCat("UNKNOWN(", v, ")");
  return std::string(kKindNames[v]);
}

std::optional<RecordKind> KindFromName(std::string_view name) {
  for (uint16_t v = 1; v <= kMaxRecordKind; ++v)
    if (kKindNames[v] == name) return static_cast<RecordKind>(v);
  return std::nullopt;
}

std::optional<std::string_view> Record::Field(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return std::string_view(v);
  return std::nullopt;
}

bool IsAllowedFieldName(std::string_view name) {
  static const std::array<std::string_view, kAllowed.size()> sorted = [] {
    auto a = kAllowed;
    std::sort(a.begin(), a.end());
    return a;
  }();
  return std::binary_search(sorted.begin(), sorted.end(), name);
}
bool IsCheckpointFieldName(std::string_view name) {
  return std::find(kCheckpointOnly.begin(), kCheckpointOnly.end(), name) != kCheckpointOnly.end();
}

namespace {

using FieldView = std::pair<std::string_view, std::string_view>;

absl::Status ValidateFieldViews(const FieldView* fields, size_t n, bool allow_checkpoint_fields) {
  if (n > format::kMaxFields)
    return absl::InvalidArgumentError(StrCat("too many fields: ", n, " > ", format::kMaxFields));
  for (size_t i = 0; i < n; ++i) {
    const auto& [name, value] = fields[i];
    bool allowed = IsAllowedFieldName(name) || (allow_checkpoint_fields && IsCheckpointFieldName(name));
    if (!allowed)
      return absl::InvalidArgumentError(StrCat("field '", ValidName(name) ? name : "<invalid name>",
                                               "' is not in the ledger allowlist"));
    for (size_t j = 0; j < i; ++j)
      if (fields[j].first == name) return absl::InvalidArgumentError(StrCat("duplicate field '", name, "'"));
    if (value.size() > format::kMaxFieldValueSize)
      return absl::InvalidArgumentError(StrCat("field '", name, "' value too long: ", value.size(), " > ",
                                               format::kMaxFieldValueSize));
    for (unsigned char c : value)
      if (c < 0x20 || c == 0x7f)
        return absl::InvalidArgumentError(StrCat("field '", name, "' value contains a control character"));
  }
  return absl::OkStatus();
}

// The one payload parser: fills `h` and up to kMaxFields views into `fields`
// (no allocation) and validates everything.
absl::Status ParsePayload(std::string_view p, RecordHeader& h, FieldView* fields, size_t& n) {
  auto bad = [](std::string_view why) { return absl::DataLossError(StrCat("malformed record: ", why)); };
  if (p.size() < format::kPayloadFixedSize) return bad("shorter than the fixed header");
  if (p.size() > format::kMaxPayloadSize) return bad("longer than the maximum payload");
  if (static_cast<uint8_t>(p[0]) != format::kPayloadVersion) return bad("unknown version");
  h.seq = GetLE(p.data() + 1, 8);
  h.time_ns = static_cast<int64_t>(GetLE(p.data() + 9, 8));
  uint16_t kind = static_cast<uint16_t>(GetLE(p.data() + 17, 2));
  if (kind == 0 || kind > kMaxRecordKind) return bad(StrCat("unknown kind ", kind));
  h.kind = static_cast<RecordKind>(kind);
  std::memcpy(h.prev_hash.data(), p.data() + 19, 32);
  n = static_cast<uint8_t>(p[51]);
  if (n > format::kMaxFields) return bad("too many fields");
  size_t off = format::kPayloadFixedSize;
  for (size_t i = 0; i < n; ++i) {
    if (off + 1 > p.size()) return bad("truncated field name length");
    size_t nlen = static_cast<uint8_t>(p[off++]);
    if (off + nlen + 2 > p.size()) return bad("truncated field name");
    std::string_view name = p.substr(off, nlen);
    off += nlen;
    size_t vlen = GetLE(p.data() + off, 2);
    off += 2;
    if (off + vlen > p.size()) return bad("truncated field value");
    fields[i] = {name, p.substr(off, vlen)};
    off += vlen;
  }
  if (off != p.size()) return bad("trailing bytes after the last field");
  absl::Status v = ValidateFieldViews(fields, n, h.kind == RecordKind::kCheckpoint);
  if (!v.ok()) return bad(std::string(v.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateFields(const Fields& fields, bool allow_checkpoint_fields) {
  if (fields.size() > format::kMaxFields)
    return absl::InvalidArgumentError(StrCat("too many fields: ", fields.size(), " > ", format::kMaxFields));
  FieldView views[format::kMaxFields];
  for (size_t i = 0; i < fields.size(); ++i) views[i] = {fields[i].first, fields[i].second};
  return ValidateFieldViews(views, fields.size(), allow_checkpoint_fields);
}

absl::StatusOr<RecordHeader> CheckPayload(std::string_view payload, const Hash& leaf_hash) {
  RecordHeader h;
  FieldView views[format::kMaxFields];
  size_t n = 0;
  TG_RETURN_IF_ERROR(ParsePayload(payload, h, views, n));
  h.hash = leaf_hash;
  return h;
}

std::string EncodePayload(uint64_t seq, int64_t time_ns, RecordKind kind, const Hash& prev_hash,
                          const Fields& fields) {
  std::string s;
  s.reserve(format::kPayloadFixedSize + fields.size() * 48);
  s.push_back(static_cast<char>(format::kPayloadVersion));
  PutU64(s, seq);
  PutU64(s, static_cast<uint64_t>(time_ns));
  PutU16(s, static_cast<uint16_t>(kind));
  s.append(reinterpret_cast<const char*>(prev_hash.data()), prev_hash.size());
  s.push_back(static_cast<char>(fields.size()));
  for (const auto& [name, value] : fields) {
    s.push_back(static_cast<char>(name.size()));
    s.append(name);
    PutU16(s, static_cast<uint16_t>(value.size()));
    s.append(value);
  }
  return s;
}

absl::StatusOr<Record> DecodePayload(std::string_view p) { return DecodePayload(p, LeafHash(p)); }

absl::StatusOr<Record> DecodePayload(std::string_view p, const Hash& leaf_hash) {
  RecordHeader h;
  FieldView views[format::kMaxFields];
  size_t n = 0;
  TG_RETURN_IF_ERROR(ParsePayload(p, h, views, n));
  Record r;
  r.seq = h.seq;
  r.time_ns = h.time_ns;
  r.kind = h.kind;
  r.prev_hash = h.prev_hash;
  r.hash = leaf_hash;
  r.fields.reserve(n);
  for (size_t i = 0; i < n; ++i) r.fields.emplace_back(std::string(views[i].first), std::string(views[i].second));
  return r;
}

uint32_t FrameCrc(std::string_view payload) {
  std::string len;
  PutU32(len, static_cast<uint32_t>(payload.size()));
  return Crc32cExtend(Crc32c(len), payload.data(), payload.size());
}

std::string EncodeFrame(std::string_view payload) {
  std::string f;
  f.reserve(format::kFrameHeaderSize + payload.size());
  PutU32(f, static_cast<uint32_t>(payload.size()));
  PutU32(f, FrameCrc(payload));
  f.append(payload);
  return f;
}

}  // namespace taogate::ledger
