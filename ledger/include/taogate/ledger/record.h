// Ledger records: kinds, the field allowlist, and the payload codec (layout in
// ledger_format.h). Pure functions; thread-safe.
//
// Field allowlist (docs/ledger.md explains each): records hold identities,
// actions, targets, decisions, hashes and timestamps -- never payloads,
// secrets, credentials or tokens (store a *_sha256 or an id instead).
//   tao_id tao_sha256 cgroup_id node_id pod_uid actor workload action_class
//   target proto addr port path reason_code reason decision decision_id
//   policy_sha256 rule key_id previous_key_id cert_sha256 scope approver
//   approvals approvals_required nonce_sha256 not_before expires_at ttl_s
//   ticket verdict count pid uid event component version error certificate
//   annotations tao_ids issued_seq first_seen_ms last_seen_ms added removed
//   not_enforced chain file_sha256 previous_sha256 serial previous_serial
//   not_after
//   credential_id public_key authenticator_data client_data assertion
//   intent_sha256 (a
//   WebAuthn approver's credential and the assertion it signed: public data
//   an auditor re-verifies, docs/approvals.md)
// Reserved for CHECKPOINT records written by the ledger itself:
//   origin tree_size root_hash time_ns key_name signature
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/ledger/merkle.h"

namespace taogate::ledger {

enum class RecordKind : uint16_t {
  kIssued = 1,            // governor issued a TAO
  kDenied = 2,            // governor denied a request
  kApproval = 3,          // an approver signed (or rejected) a pending decision
  kConsumed = 4,          // agent verified and consumed a TAO (grant installed after)
  kExercised = 5,         // the kernel consumed the grant on connect
  kRejected = 6,          // agent refused a TAO (bad signature, replay, binding, ...)
  kKillSwitch = 7,        // kill switch engaged / released
  kPolicyActivated = 8,   // a policy bundle became active
  kBreakGlass = 9,        // break-glass authorization (always review-required)
  kKeyRotated = 10,       // issuing key rotated
  kCheckpoint = 11,       // signed tree head; written only by the ledger
  kApprovalRequested = 12,
  kExpired = 13,          // an unused grant or pending approval expired
  kStarted = 14,          // a daemon started with this ledger
  kLossAccepted = 15,     // an operator accepted the loss of signed records
                          // (taogatectl ledger recover --accept-loss)
  kWorkload = 16,         // a Kubernetes pod became governed / ungoverned, or
                          // was removed with its grants and quarantine
  kHold = 17,             // a held connect ended (hold mode, docs/hold.md)
  kWouldDeny = 18,        // audit mode let through what the kernel would deny
                          // (DENIED's node fields; docs/audit-mode.md)
  kReloaded = 19,         // a daemon re-read a certificate, key, CA or trust
                          // bundle file (verdict ok), or refused it (refused)
  kApproverEnrolled = 20, // an approver registered a WebAuthn credential
                          // through a one-time enrollment link (console)
};
inline constexpr uint16_t kMaxRecordKind = 20;

// "ISSUED", "DENIED", ...; "UNKNOWN(n)" for values outside the enum.
std::string KindName(RecordKind kind);
std::optional<RecordKind> KindFromName(std::string_view name);

// Ordered (name, value) pairs; order is preserved on disk.
using Fields = std::vector<std::pair<std::string, std::string>>;

struct Record {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  RecordKind kind = RecordKind::kIssued;
  Hash prev_hash{};
  Fields fields;
  Hash hash{};  // leaf hash of the payload (the next record's prev_hash)

  // Value of the first field named `name`, or nullopt.
  std::optional<std::string_view> Field(std::string_view name) const;
};

// A record without its fields (what a scan needs for most records).
struct RecordHeader {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  RecordKind kind = RecordKind::kIssued;
  Hash prev_hash{};
  Hash hash{};
};

bool IsAllowedFieldName(std::string_view name);
bool IsCheckpointFieldName(std::string_view name);
// InvalidArgument naming the offending field: unknown name, duplicate name,
// too many fields, value too long or containing a control character.
// CHECKPOINT-only names are refused unless allow_checkpoint_fields.
absl::Status ValidateFields(const Fields& fields, bool allow_checkpoint_fields = false);

// Payload bytes for a record (fields must already be valid).
std::string EncodePayload(uint64_t seq, int64_t time_ns, RecordKind kind, const Hash& prev_hash,
                          const Fields& fields);
// Strict decoder: DataLoss on any malformation (bad version, unknown kind,
// truncated or trailing bytes, non-allowlisted or invalid field). Fills hash.
absl::StatusOr<Record> DecodePayload(std::string_view payload);
// Same, with the leaf hash already computed by the caller (= LeafHash(payload)).
absl::StatusOr<Record> DecodePayload(std::string_view payload, const Hash& leaf_hash);

// Validates a payload exactly as DecodePayload does, without copying fields.
absl::StatusOr<RecordHeader> CheckPayload(std::string_view payload, const Hash& leaf_hash);

// Frame = u32 len || u32 crc32c(len bytes || payload) || payload.
std::string EncodeFrame(std::string_view payload);
uint32_t FrameCrc(std::string_view payload);

}  // namespace taogate::ledger
