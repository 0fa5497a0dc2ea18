// The byte-level formats the governor defines, stated once.
//
// 1. Intent hash (Decision.intent_sha256): what approvers sign over. SHA-256 of
//      "taogate.intent.v1\0"                     (18 bytes, kIntentDomain)
//      then, each followed by one 0x00 byte:
//        decision_id, requester (actor URI), binding.node_id,
//        decimal binding.cgroup_id, binding.pod_uid, binding.workload_path
//        (the bound path: the declared cgroup_path, or "/"), workload,
//        action_class, target text (policies::FormatTargetRef, e.g.
//        "tcp:10.0.0.5:5432"), policy bundle sha256 (64 lower-case hex),
//        decimal TTL seconds.
//    Every field is UTF-8 without NUL (the request is refused otherwise), so
//    the encoding is unambiguous.
//
// 2. Approval message: an approver signs with pure Ed25519 (RFC 8032) over
//      offset 0        20 bytes  "taogate.approval.v1\0"   (kApprovalDomain)
//      offset 20       N bytes   decision_id (ASCII, 32 hex digits)
//      offset 20+N     1 byte    0x00
//      offset 21+N     32 bytes  intent_sha256
//      offset 53+N     1 byte    verdict: 0x01 approve, 0x02 reject
//      offset 54+N     16 bytes  nonce (random, never reused)
//      offset 70+N     8 bytes   issued_at_ms, big-endian signed 64-bit
//    ApprovalRequest.approver_key_id is the lower-case hex SHA-256 of the raw
//    32-byte public key; the key must be listed under an actor's
//    approver_keys in the active bundle, and that actor is the approver.
//    The governor refuses an approval older than approval_max_age (default
//    5 min) or more than 30 s in the future, a nonce it has seen, an intent
//    that differs from the decision's, and an approver equal to the requester.
//
// 3. Ledger records written by the governor (ledger/record.h kinds). Every
//    record carries decision_id where one exists, actor (who asked or acted)
//    and policy_sha256. Request records carry the binding: node_id,
//    cgroup_id, pod_uid and workload = the bound workload path (the declared
//    workload name only on a request refused before a path was bound). Free-text reasons are stored as
//      reason = "sha256:<64 hex of the exact bytes> <redacted summary>"
//    never verbatim (policies/reason.h).
//      DENIED              request denied (rule, reason_code: policy |
//                          rate_limited | invalid | issuance_failed |
//                          attestation: a node attestation the caller may
//                          not make, actor = the caller, event=attested), or a
//                          refused activation (event=activate_policy)
//    Records of a request a node attested carry event=attested and actor =
//    the derived workload identity (docs/governor.md, "Node attestation").
//      APPROVAL_REQUESTED  request pending approval (approvals_required, scope
//                          = approver roles, expires_at)
//      APPROVAL            one approval or rejection (approver, verdict,
//                          nonce_sha256, approvals)
//      EXPIRED             a pending decision's window passed
//      ISSUED              a TAO was issued (tao_id, key_id, not_before,
//                          expires_at, ttl_s); its seq is the TAO's
//                          decision_ledger_index
//      BREAK_GLASS         event=issue (scope, ticket, reason, tao_id,
//                          verdict=review_required) or event=review (verdict
//                          accepted | violation)
//      POLICY_ACTIVATED    policy_sha256, previous (in `scope`), count (rules)
//      KILL_SWITCH         verdict engage|release, node_id, workload, count
//      KEY_ROTATED         key_id, cert_sha256, scope (purpose)
//      STARTED             component=governor, version, scope (key mode)
//      RELOADED            a reload (docs/governor.md "Reload"): per changed
//                          file verdict=ok, scope (tls_ca|tls_cert|tls_key|
//                          policy), path, previous_sha256, file_sha256 (+
//                          previous_serial, serial, not_after); or one
//                          verdict=refused record (scope, path, error)
#pragma once

#include <cstdint>
#include <string_view>

namespace taogate::governance {

inline constexpr std::string_view kIntentDomain{"taogate.intent.v1\0", 18};
inline constexpr std::string_view kApprovalDomain{"taogate.approval.v1\0", 20};
inline constexpr size_t kApprovalNonceBytes = 16;
inline constexpr uint8_t kVerdictApprove = 1;
inline constexpr uint8_t kVerdictReject = 2;

}  // namespace taogate::governance
