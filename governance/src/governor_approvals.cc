// Approve / Reject: verified Ed25519 approver signatures over the intent
// (governor_format.h section 2), counted per distinct approver.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "convert.h"
#include "governor_state.h"
#include "pg_state.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
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
  if (!shared_ && !Find(req.decision_id())) return absl::NotFoundError("no such decision");
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
  if (req.issued_at_ms() < now - options_.approval_max_age_ms)
    return absl::FailedPreconditionError("approval expired");
  if (req.issued_at_ms() > now + options_.approval_max_future_ms)
    return absl::FailedPreconditionError("approval is dated in the future");
  return ApproveVerified(actor, {.decision_id = req.decision_id(),
                                 .intent_sha256 = req.intent_sha256(),
                                 .approver = approver->identity,
                                 .approve = approve,
                                 .nonce_hex = ToHex(req.nonce()),
                                 .nonce_until_ms = req.issued_at_ms() + options_.approval_max_age_ms +
                                                   options_.approval_max_future_ms,
                                 .evidence = {{"nonce_sha256", ToHex(crypto::Sha256(req.nonce()))}}});
}

absl::StatusOr<v1::Decision> Governor::ApproveVerified(const std::string& actor, const VerifiedApproval& a) {
  std::shared_ptr<Entry> e;
  if (!shared_) {  // replicas read the decision under its row lock below
    e = Find(a.decision_id);
    if (!e) return absl::NotFoundError("no such decision");
  }
  auto policy = this->policy();
  const int64_t now = NowMs();
  const bool approve = a.approve;
  const std::string& who = a.approver;
  const std::string& nonce_hex = a.nonce_hex;
  const int64_t nonce_until = a.nonce_until_ms;
  bool complete = false;
  bool policy_changed = false;
  uint32_t count = 0;
  // The checks and the change, on the decision's state (this replica's copy
  // under mu_, or the shared row under its lock). Not the nonce: each path
  // keeps its own.
  auto apply = [&](Entry& x) -> absl::Status {
    if (x.pending() && !x.issuing && now >= x.pending_until_ms)
      return absl::FailedPreconditionError("decision is not pending (OUTCOME_EXPIRED)");
    if (!x.pending() || x.issuing)
      return absl::FailedPreconditionError(
          StrCat("decision is not pending (", v1::Outcome_Name(x.decision.outcome()), ")"));
    if (!crypto::ConstantTimeEqual(crypto::AsBytes(a.intent_sha256),
                                   crypto::AsBytes(x.decision.intent_sha256())))
      return absl::FailedPreconditionError("approval is for a different intent");
    // Nor the node that attested the requester (it asked on its behalf).
    if (who == x.requester || who == x.caller) return absl::PermissionDeniedError("self-approval refused");
    policies::ApprovalSpec one = x.approval;
    one.count = 1;
    std::vector<std::string> just{who};
    if (!policy->CheckApprovals(one, x.requester, just).ok())
      return absl::PermissionDeniedError("approver does not hold a required role");
    if (std::find(x.approvers.begin(), x.approvers.end(), who) != x.approvers.end())
      return absl::AlreadyExistsError("this approver already approved");
    policy_changed = policy->HashHex() != x.policy_hex;
    if (approve && !policy_changed) {
      x.approvers.push_back(who);
      x.decision.add_approvers(who);
      x.decision.set_approvals_given(x.approvers.size());
      count = x.approvers.size();
      complete = policy->CheckApprovals(x.approval, x.requester, x.approvers).ok();
    } else {
      x.decision.set_outcome(approve ? v1::OUTCOME_DENY : v1::OUTCOME_REJECTED);
      x.decision.set_reason(approve ? "policy changed while pending; request again"
                                    : StrCat("rejected by ", who));
    }
    if (complete) x.issuing = true;
    ++x.version;
    return absl::OkStatus();
  };
  auto record = [&](const Entry& x) {
    ledger::Fields f = {{"decision_id", x.id},
                        {"actor", internal::LedgerSafe(actor)},
                        {"approver", internal::LedgerSafe(who)},
                        {"verdict", approve ? (policy_changed ? "stale" : "approve") : "reject"}};
    f.insert(f.end(), a.evidence.begin(), a.evidence.end());
    f.emplace_back("approvals", std::to_string(count));
    f.emplace_back("approvals_required", std::to_string(x.approval.count));
    f.emplace_back("policy_sha256", x.policy_hex);
    return Append(RecordKind::kApproval, std::move(f));
  };

  if (shared_) {
    // Replicas: checked and changed under the row's lock, the nonce claimed
    // in the same transaction, the APPROVAL record durable before it
    // commits. The same approver through two replicas counts once.
    Entry fresh;
    auto updated = shared_->UpdateDecision(
        a.decision_id,
        [&](const std::string& in) -> absl::StatusOr<std::string> {
          Entry x;
          TG_RETURN_IF_ERROR(DecodeShared(in, x));
          TG_RETURN_IF_ERROR(apply(x));
          TG_RETURN_IF_ERROR(record(x).status());
          fresh = x;
          return EncodeShared(x);
        },
        nonce_hex, nonce_until, now);
    if (!updated.ok()) return updated.status();
    e = Adopt(std::move(fresh));
  } else {
    {
      std::unique_lock l(mu_);
      ExpireLocked(*e, now);
      for (auto it = seen_nonces_.begin(); it != seen_nonces_.end();)
        it = it->second < now ? seen_nonces_.erase(it) : std::next(it);
      if (seen_nonces_.count(nonce_hex)) return absl::PermissionDeniedError("approval replayed");
      TG_RETURN_IF_ERROR(apply(*e));
      seen_nonces_[nonce_hex] = nonce_until;
    }
    cv_.notify_all();
    auto seq = record(*e);
    if (!seq.ok()) {
      // Not durable: undo so the approval does not count (fail closed).
      std::lock_guard l(mu_);
      if (approve && !policy_changed) {
        e->approvers.erase(std::remove(e->approvers.begin(), e->approvers.end(), who), e->approvers.end());
        e->decision.clear_approvers();
        for (const auto& name : e->approvers) e->decision.add_approvers(name);
        e->decision.set_approvals_given(e->approvers.size());
        e->issuing = false;
      }
      return seq.status();
    }
  }
  {
    std::lock_guard l(mu_);
    if (approve) ++stats_.approvals; else ++stats_.rejections;
  }
  if (complete) {
    absl::Status s = Issue(*e, e->ttl, {{"rule", e->decision.rule()}});
    if (shared_) {  // the TAO (or the failure) to the replica the requester watches
      std::string final_state;
      {
        std::lock_guard l(mu_);
        final_state = EncodeShared(*e);
      }
      auto pushed = shared_->UpdateDecision(e->id, [&](const std::string&) -> absl::StatusOr<std::string> {
        return final_state;
      });
      if (!pushed.ok()) {
        log::Error("replicas: the issued decision did not reach the shared store",
                   {{"decision_id", e->id}, {"error", std::string(pushed.status().message())}});
        if (s.ok()) s = pushed.status();
      }
    }
    if (!s.ok()) return s;
  }
  std::lock_guard l(mu_);
  return View(*e, actor);
}

std::shared_ptr<Governor::Entry> Governor::Adopt(Entry fresh) {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard l(mu_);
    auto it = decisions_.find(fresh.id);
    if (it == decisions_.end()) {
      e = std::make_shared<Entry>(std::move(fresh));
      order_.push_back(e->id);
      decisions_[e->id] = e;
    } else {
      e = it->second;
      if (fresh.version >= e->version) *e = std::move(fresh);
    }
  }
  cv_.notify_all();
  return e;
}

void Governor::RefreshShared(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    {
      std::lock_guard l(mu_);
      if (!decisions_.count(id)) continue;  // nobody here asked about it
    }
    auto text = shared_->GetDecision(id);
    if (!text.ok() || !*text) continue;
    Entry fresh;
    if (DecodeShared(**text, fresh).ok()) Adopt(std::move(fresh));
  }
}

namespace {

using Json = nlohmann::json;

template <typename M>
std::string ProtoHex(const M& m) {
  return ToHex(m.SerializeAsString());
}

template <typename M>
absl::Status ProtoFromHex(const Json& j, const char* key, M* m) {
  auto bytes = FromHex(j.at(key).get<std::string>());
  if (!bytes.ok() || !m->ParseFromArray(bytes->data(), static_cast<int>(bytes->size())))
    return absl::DataLossError(StrCat("shared decision: malformed ", key));
  return absl::OkStatus();
}

}  // namespace

std::string Governor::EncodeShared(const Entry& e) {
  Json j = {{"id", e.id},
            {"requester", e.requester},
            {"caller", e.caller},
            {"binding", ProtoHex(e.binding)},
            {"workload", e.workload},
            {"action", e.action},
            {"target", ProtoHex(e.target)},
            {"target_text", e.target_text},
            {"policy_hex", e.policy_hex},
            {"annotations", e.annotations},
            {"reason", e.reason},
            {"decision", ProtoHex(e.decision)},
            {"approval_roles", e.approval.roles},
            {"approval_count", e.approval.count},
            {"ttl_s", e.ttl.count()},
            {"approvers", e.approvers},
            {"pending_until_ms", e.pending_until_ms},
            {"version", e.version},
            {"issuing", e.issuing},
            {"break_glass", e.break_glass},
            {"attested", e.attested},
            {"reviewed", e.reviewed}};
  return j.dump();
}

absl::Status Governor::DecodeShared(const std::string& text, Entry& e) {
  try {
    Json j = Json::parse(text);
    e.id = j.at("id").get<std::string>();
    e.requester = j.at("requester").get<std::string>();
    e.caller = j.at("caller").get<std::string>();
    TG_RETURN_IF_ERROR(ProtoFromHex(j, "binding", &e.binding));
    e.workload = j.at("workload").get<std::string>();
    e.action = j.at("action").get<std::string>();
    TG_RETURN_IF_ERROR(ProtoFromHex(j, "target", &e.target));
    e.target_text = j.at("target_text").get<std::string>();
    e.policy_hex = j.at("policy_hex").get<std::string>();
    e.annotations = j.at("annotations").get<std::string>();
    e.reason = j.value("reason", std::string());
    TG_RETURN_IF_ERROR(ProtoFromHex(j, "decision", &e.decision));
    e.approval.roles = j.at("approval_roles").get<std::vector<std::string>>();
    e.approval.count = j.at("approval_count").get<uint32_t>();
    e.ttl = std::chrono::seconds(j.at("ttl_s").get<int64_t>());
    e.approvers = j.at("approvers").get<std::vector<std::string>>();
    e.pending_until_ms = j.at("pending_until_ms").get<int64_t>();
    e.version = j.at("version").get<uint64_t>();
    e.issuing = j.at("issuing").get<bool>();
    e.break_glass = j.at("break_glass").get<bool>();
    e.attested = j.at("attested").get<bool>();
    e.reviewed = j.at("reviewed").get<bool>();
  } catch (const std::exception& ex) {
    return absl::DataLossError(StrCat("shared decision: ", ex.what()));
  }
  return absl::OkStatus();
}

}  // namespace taogate::governance
