// Approve / Reject: verified Ed25519 approver signatures over the intent
// (governor_format.h section 2), counted per distinct approver.
#include <algorithm>

#include "convert.h"
#include "governor_state.h"
#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/governance/approval.h"
#include "taogate/governance/governor_format.h"

namespace taogate::governance {

using ledger::RecordKind;

void Governor::ExpireLocked(Entry& e, int64_t now) {
  if (!e.pending() || e.issuing || now < e.pending_until_ms) return;
  e.decision.set_outcome(v1::OUTCOME_EXPIRED);
  e.decision.set_reason("approval window passed");
  ++e.version;
  ++stats_.expired;
  cv_.notify_all();
  // Recorded best effort (Append logs a failure): the decision is final
  // either way (fail closed).
  ledger::Fields f = {{"decision_id", e.id}, {"actor", internal::LedgerSafe(e.requester)},
                      {"decision", "EXPIRED"}, {"policy_sha256", e.policy_hex}};
  (void)Append(RecordKind::kExpired, std::move(f));
}

namespace {

// The bundle actor whose approver_keys hold the key with hex id `key_id`.
const policies::ActorDef* FindApprover(const policies::Bundle& b, const std::string& key_id,
                                       policies::Ed25519PublicKey* key) {
  for (const auto& a : b.actors)
    for (const auto& k : a.approver_keys)
      if (ApproverKeyId(k) == key_id) {
        *key = k;
        return &a;
      }
  return nullptr;
}

}  // namespace

absl::StatusOr<v1::Decision> Governor::Approve(const std::string& actor,
                                               const v1::ApprovalRequest& req, bool approve) {
  auto e = Find(req.decision_id());
  if (!e) return absl::NotFoundError("no such decision");
  auto policy = this->policy();
  const int64_t now = NowMs();
  policies::Ed25519PublicKey key{};
  const policies::ActorDef* approver = FindApprover(policy->bundle(), req.approver_key_id(), &key);
  if (approver == nullptr) return absl::PermissionDeniedError("unknown approver key");
  auto msg = ApprovalMessage(req.decision_id(), req.intent_sha256(),
                             approve ? kVerdictApprove : kVerdictReject, req.nonce(),
                             req.issued_at_ms());
  if (!msg.ok()) return msg.status();
  if (!crypto::Ed25519Verify(key, crypto::AsBytes(*msg), crypto::AsBytes(req.signature())).ok())
    return absl::UnauthenticatedError("approval signature does not verify");
  const std::string who = approver->identity;
  const std::string nonce_hex = ToHex(req.nonce());
  bool complete = false;
  bool policy_changed = false;
  uint32_t count = 0;
  {
    std::unique_lock l(mu_);
    ExpireLocked(*e, now);
    if (!e->pending() || e->issuing)
      return absl::FailedPreconditionError(
          StrCat("decision is not pending (", v1::Outcome_Name(e->decision.outcome()), ")"));
    if (!crypto::ConstantTimeEqual(crypto::AsBytes(req.intent_sha256()),
                                   crypto::AsBytes(e->decision.intent_sha256())))
      return absl::FailedPreconditionError("approval is for a different intent");
    if (req.issued_at_ms() < now - options_.approval_max_age_ms)
      return absl::FailedPreconditionError("approval expired");
    if (req.issued_at_ms() > now + options_.approval_max_future_ms)
      return absl::FailedPreconditionError("approval is dated in the future");
    for (auto it = seen_nonces_.begin(); it != seen_nonces_.end();)
      it = it->second < now ? seen_nonces_.erase(it) : std::next(it);
    if (seen_nonces_.count(nonce_hex)) return absl::PermissionDeniedError("approval replayed");
    // Nor the node that attested the requester (it asked on its behalf).
    if (who == e->requester || who == e->caller)
      return absl::PermissionDeniedError("self-approval refused");
    policies::ApprovalSpec one = e->approval;
    one.count = 1;
    std::vector<std::string> just{who};
    if (!policy->CheckApprovals(one, e->requester, just).ok())
      return absl::PermissionDeniedError("approver does not hold a required role");
    if (std::find(e->approvers.begin(), e->approvers.end(), who) != e->approvers.end())
      return absl::AlreadyExistsError("this approver already approved");
    seen_nonces_[nonce_hex] =
        req.issued_at_ms() + options_.approval_max_age_ms + options_.approval_max_future_ms;
    policy_changed = policy->HashHex() != e->policy_hex;
    if (approve && !policy_changed) {
      e->approvers.push_back(who);
      e->decision.add_approvers(who);
      e->decision.set_approvals_given(e->approvers.size());
      count = e->approvers.size();
      complete = policy->CheckApprovals(e->approval, e->requester, e->approvers).ok();
    } else {
      e->decision.set_outcome(approve ? v1::OUTCOME_DENY : v1::OUTCOME_REJECTED);
      e->decision.set_reason(approve ? "policy changed while pending; request again"
                                     : StrCat("rejected by ", who));
    }
    if (complete) e->issuing = true;
    if (approve) ++stats_.approvals; else ++stats_.rejections;
    ++e->version;
  }
  cv_.notify_all();
  ledger::Fields f = {{"decision_id", e->id},
                      {"actor", internal::LedgerSafe(actor)},
                      {"approver", internal::LedgerSafe(who)},
                      {"verdict", approve ? (policy_changed ? "stale" : "approve") : "reject"},
                      {"nonce_sha256", ToHex(crypto::Sha256(req.nonce()))},
                      {"approvals", std::to_string(count)},
                      {"approvals_required", std::to_string(e->approval.count)},
                      {"policy_sha256", e->policy_hex}};
  auto seq = Append(RecordKind::kApproval, std::move(f));
  if (!seq.ok()) {
    // Not durable: undo so the approval does not count (fail closed).
    std::lock_guard l(mu_);
    if (approve && !policy_changed) {
      e->approvers.erase(std::remove(e->approvers.begin(), e->approvers.end(), who),
                         e->approvers.end());
      e->decision.clear_approvers();
      for (const auto& a : e->approvers) e->decision.add_approvers(a);
      e->decision.set_approvals_given(e->approvers.size());
      e->issuing = false;
    }
    return seq.status();
  }
  if (complete) {
    auto s = Issue(*e, e->ttl, {{"rule", e->decision.rule()}});
    if (!s.ok()) return s;
  }
  std::lock_guard l(mu_);
  return View(*e, actor);
}

}  // namespace taogate::governance
