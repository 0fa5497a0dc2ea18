// Break-glass: role-restricted, scoped, structured reason, short TTL; always
// a review-required BREAK_GLASS record, closed by Review.
#include "convert.h"
#include "governor_state.h"
#include "pg_state.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::governance {

using ledger::RecordKind;

absl::StatusOr<v1::Decision> Governor::BreakGlass(const std::string& actor,
                                                  const v1::BreakGlassRequest& req) {
  auto policy = this->policy();
  TG_ASSIGN_OR_RETURN(std::shared_ptr<Entry> e,
                      NewEntry(actor, req.binding(), req.workload(), req.action_class(),
                               req.target(), policy->HashHex()));
  e->break_glass = true;
  auto refuse = [&](absl::Status why) -> absl::Status {
    ledger::Fields f = internal::RequestFields(e->id, actor, e->binding, e->workload, e->action,
                                               e->target_text, e->policy_hex);
    f.emplace_back("event", "break_glass");
    f.emplace_back("decision", "DENY");
    f.emplace_back("error", internal::LedgerSafe(std::string(why.message())));
    TG_RETURN_IF_ERROR(Append(RecordKind::kDenied, std::move(f)).status());
    {
      std::lock_guard l(mu_);
      ++stats_.deny;
    }
    return why;
  };
  auto valid = internal::ValidateCommon(req.binding(), req.workload(), req.action_class(),
                                        req.cgroup_path());
  if (!valid.ok()) return refuse(valid);
  if (!req.pod_labels().empty())
    return refuse(absl::InvalidArgumentError(internal::kLabelsAttestedOnly));
  e->binding = internal::BindWorkload(req.binding(), req.cgroup_path());
  auto target = internal::ToTargetRef(req.target());
  if (!target.ok()) return refuse(target.status());
  e->target_text = policies::FormatTargetRef(*target);
  // Structured reason: an incident id and a justification, both required.
  auto ticket = policies::SanitizeReason(req.incident_id());
  if (!ticket.ok() || req.incident_id().size() > 128)
    return refuse(absl::InvalidArgumentError("incident_id is required (at most 128 bytes, no control characters)"));
  auto why = policies::SanitizeReason(req.justification());
  if (!why.ok())
    return refuse(absl::InvalidArgumentError(
        StrCat("justification: ", std::string(why.status().message()))));
  if (req.ttl_seconds() == 0) return refuse(absl::InvalidArgumentError("ttl_seconds is required"));

  policies::BreakGlassRequest br;
  br.actor = actor;
  br.workload = internal::ToAttributes(e->binding);
  br.action = req.action_class();
  br.target = *target;
  br.ttl = std::chrono::seconds(req.ttl_seconds());
  auto grant = policy->CheckBreakGlass(br);
  if (!grant.ok()) return refuse(grant.status());
  // A TAO never outlives tao::kMaxLifetimeMs whatever the scope says.
  std::chrono::seconds ttl = std::min<std::chrono::seconds>(
      grant->ttl, std::chrono::seconds(tao::kMaxLifetimeMs / 1000));

  v1::Decision& d = e->decision;
  d.set_decision_id(e->id);
  d.set_rule(StrCat("break-glass:", grant->scope_id));
  d.set_reason("break-glass: review required");
  d.set_policy_sha256(e->policy_hex);
  d.set_requester(actor);
  d.set_review_required(true);
  e->reason = why->summary;
  {
    std::lock_guard l(mu_);
    ++stats_.break_glass;
  }
  TG_RETURN_IF_ERROR(Issue(*e, ttl,
                           {{"scope", internal::LedgerSafe(grant->scope_id)},
                            {"ticket", internal::LedgerSafe(req.incident_id(), 128)},
                            {"reason", internal::ReasonField(*why)},
                            {"verdict", "review_required"}}));
  if (options_.notifier != nullptr)
    options_.notifier->Notify(
        {.event = "break_glass",
         .summary = StrCat(actor, " broke the glass for ", e->action, " on ", e->target_text,
                           " (incident ", ticket->summary, "): review required"),
         .fields = {{"decision_id", e->id},
                    {"requester", actor},
                    {"workload", e->binding.workload_path()},
                    {"node_id", e->binding.node_id()},
                    {"action", e->action},
                    {"target", e->target_text},
                    {"rule", d.rule()},
                    {"incident", ticket->summary},
                    {"reason", why->summary},
                    {"ttl_seconds", std::to_string(ttl.count())},
                    {"review_with", StrCat("taogatectl authz review ", e->id, " --verdict accepted|violation")}}});
  // Replicas: reviewed through any of them.
  if (shared_) TG_RETURN_IF_ERROR(shared_->PutDecision(e->id, EncodeShared(*e)));
  Remember(e);
  std::lock_guard l(mu_);
  return View(*e, actor);
}

absl::StatusOr<v1::ReviewResponse> Governor::Review(const std::string& actor,
                                                    const v1::ReviewRequest& req) {
  if (!IsAdmin(actor)) return absl::PermissionDeniedError("only governor admins review break-glass");
  if (req.verdict() != "accepted" && req.verdict() != "violation")
    return absl::InvalidArgumentError("verdict must be \"accepted\" or \"violation\"");
  auto note = req.note().empty() ? absl::StatusOr<policies::ReasonRecord>(policies::ReasonRecord{})
                                 : policies::SanitizeReason(req.note());
  if (!note.ok()) return note.status();
  auto record = [&](const Entry& x) {
    ledger::Fields f = {{"decision_id", x.id},
                        {"actor", internal::LedgerSafe(actor)},
                        {"event", "review"},
                        {"verdict", req.verdict()},
                        {"policy_sha256", x.policy_hex}};
    if (!req.note().empty()) f.emplace_back("reason", internal::ReasonField(*note));
    return Append(RecordKind::kBreakGlass, std::move(f));
  };
  if (shared_) {
    // Replicas: checked and marked under the row's lock, the record durable
    // before it commits; one review, through whichever replica.
    Entry fresh;
    uint64_t seq = 0;
    auto updated = shared_->UpdateDecision(req.decision_id(), [&](const std::string& in) -> absl::StatusOr<std::string> {
      Entry x;
      TG_RETURN_IF_ERROR(DecodeShared(in, x));
      if (!x.break_glass) return absl::FailedPreconditionError("not a break-glass decision");
      if (x.reviewed) return absl::AlreadyExistsError("already reviewed");
      if (x.requester == actor) return absl::PermissionDeniedError("self-review refused");
      TG_ASSIGN_OR_RETURN(seq, record(x));
      x.reviewed = true;
      x.decision.set_review_required(false);
      ++x.version;
      fresh = x;
      return EncodeShared(x);
    });
    if (!updated.ok()) return updated.status();
    Adopt(std::move(fresh));
    v1::ReviewResponse r;
    r.set_ledger_seq(seq);
    return r;
  }
  auto e = Find(req.decision_id());
  if (!e) return absl::NotFoundError("no such decision");
  {
    std::lock_guard l(mu_);
    if (!e->break_glass) return absl::FailedPreconditionError("not a break-glass decision");
    if (e->reviewed) return absl::AlreadyExistsError("already reviewed");
    if (e->requester == actor) return absl::PermissionDeniedError("self-review refused");
    e->reviewed = true;
  }
  auto seq = record(*e);
  if (!seq.ok()) {
    std::lock_guard l(mu_);
    e->reviewed = false;
    return seq.status();
  }
  {
    std::lock_guard l(mu_);
    e->decision.set_review_required(false);
    ++e->version;
  }
  cv_.notify_all();
  v1::ReviewResponse r;
  r.set_ledger_seq(*seq);
  return r;
}

}  // namespace taogate::governance
