#include "taogate/common/clock.h"
#include "taogate/governance/governor.h"

#include <optional>

#include "attest.h"
#include "convert.h"
#include "governor_state.h"
#include "pg_state.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/common/version.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/pg_ledger.h"

namespace taogate::governance {

using internal::RequestFields;
using ledger::RecordKind;

Governor::Governor(GovernorOptions options, GovernorKeys* keys)
    : options_(std::move(options)), keys_(keys) {}

Governor::~Governor() {
  Shutdown();
  if (shared_watch_.joinable()) shared_watch_.join();
  if (keys_ != nullptr) keys_->SetRotateHook(nullptr);
}

absl::StatusOr<std::unique_ptr<Governor>> Governor::Create(GovernorOptions options,
                                                           GovernorKeys* keys,
                                                           std::string initial_policy_yaml,
                                                           std::string policy_name) {
  if (keys == nullptr || !keys->issuing || !keys->checkpoint)
    return absl::InvalidArgumentError("governor needs its keys");
  std::unique_ptr<Governor> g(new Governor(std::move(options), keys));
  if (g->options_.ledger_postgres.empty()) {
    ledger::LedgerOptions lo;
    lo.dir = g->options_.ledger_dir;
    lo.signer = keys->checkpoint.get();
    lo.origin = g->options_.ledger_origin.empty() ? StrCat("taogate/governor/", g->options_.instance)
                                                  : g->options_.ledger_origin;
    lo.checkpoint_every_records = g->options_.checkpoint_every_records;
    lo.checkpoint_every = g->options_.checkpoint_every;
    lo.fsync = g->options_.ledger_fsync;
    TG_ASSIGN_OR_RETURN(g->ledger_, ledger::Ledger::Open(lo));
  } else {
    ledger::PgLedgerOptions po;
    po.conninfo = g->options_.ledger_postgres;
    po.signer = keys->checkpoint.get();
    po.origin = g->options_.ledger_origin.empty() ? "taogate/governor" : g->options_.ledger_origin;
    po.checkpoint_every_records = g->options_.checkpoint_every_records;
    po.checkpoint_every = g->options_.checkpoint_every;
    TG_ASSIGN_OR_RETURN(g->ledger_, ledger::PgLedger::Open(po));
    // Kill-switch broadcasts and the active policy are shared too.
    TG_ASSIGN_OR_RETURN(g->shared_, internal::PgSharedState::Open(g->options_.ledger_postgres));
    TG_RETURN_IF_ERROR(g->MergeKillSwitch());
  }
  g->limiter_ = std::make_unique<policies::RateLimiter>(policies::RateLimitConfig{});
  TG_RETURN_IF_ERROR(g->Append(RecordKind::kStarted,
                               {{"component", "governor"},
                                {"version", kVersion},
                                {"scope", keys->root->software_mode() ? "software-keys" : "tpm"}})
                         .status());
  TG_ASSIGN_OR_RETURN(auto issuing_key, keys->issuing->Current());
  // The checkpoint key's KEY_ROTATED record (with its certificate) was
  // written by Ledger::Open, before any checkpoint it signs.
  for (const keys::IssuingKey* k : {issuing_key.get()}) {
    TG_RETURN_IF_ERROR(g->Append(RecordKind::kKeyRotated,
                                 {{"key_id", ToHex(k->key_id())},
                                  {"cert_sha256", ToHex(crypto::Sha256(k->certificate()))},
                                  {"scope", k->certificate_body().purpose()}})
                           .status());
  }
  Governor* raw = g.get();
  keys->SetRotateHook([raw](const keys::IssuingKey& k) {
    // Append logs a failure; the rotation has happened either way, and each
    // TAO the new key signs carries its certificate, so the chain stays
    // verifiable without this record.
    (void)raw->Append(RecordKind::kKeyRotated,
                      {{"key_id", ToHex(k.key_id())},
                       {"cert_sha256", ToHex(crypto::Sha256(k.certificate()))},
                       {"scope", k.certificate_body().purpose()}});
  });
  // Replicas start with the bundle last activated on any of them; the file
  // only seeds the first start (docs/governor.md, "Replicas").
  bool shared_policy = false;
  if (g->shared_) {
    TG_ASSIGN_OR_RETURN(shared_policy, g->MergePolicy("governor:startup"));
  }
  if (!shared_policy) {
    std::vector<std::string> errors;
    auto s = g->Activate("governor:startup", initial_policy_yaml, policy_name, &errors);
    if (!s.ok()) {
      std::string all;
      for (const auto& e : errors) all += "\n" + e;
      return absl::InvalidArgumentError(StrCat(std::string(s.message()), all));
    }
  }
  if (g->shared_) {
    Governor* self = g.get();
    g->shared_watch_ = std::thread([self] {
      while (!self->shutting_down()) {
        internal::PgSharedState::Notified n = self->shared_->WaitNotify(std::chrono::seconds(1));
        if (self->shutting_down()) break;
        // Changed decisions; without any notification (a quiet second, or
        // a lost listener), every pending decision held here.
        std::vector<std::string> ids = n.decisions;
        if (!n.any) {
          // At most 64 a second, taking turns (the notifications are the
          // normal path; this is for one lost with a connection).
          std::lock_guard l(self->mu_);
          std::vector<std::string> pending;
          for (const auto& [id, e] : self->decisions_)
            if (e->pending()) pending.push_back(id);
          for (size_t i = 0; i < pending.size() && i < 64; ++i)
            ids.push_back(pending[(self->refresh_cursor_ + i) % pending.size()]);
          self->refresh_cursor_ += 64;
        }
        self->RefreshShared(ids);
        absl::Status s = self->MergeKillSwitch();
        if (s.ok()) s = self->MergePolicy().status();
        if (!s.ok()) log::Warn("replicas: cannot read the shared state", {{"error", std::string(s.message())}});
      }
    });
  }
  return g;
}

int64_t Governor::NowMs() const { return (options_.clock ? *options_.clock : RealClock()).WallMs(); }

bool Governor::IsAdmin(const std::string& actor) const {
  for (const auto& a : options_.admins)
    if (a == actor) return true;
  return false;
}

std::shared_ptr<const policies::Policy> Governor::policy() const {
  std::lock_guard l(policy_mu_);
  return policy_;
}

absl::StatusOr<uint64_t> Governor::Append(RecordKind kind, ledger::Fields fields) {
  auto seq = ledger_->Append(kind, std::move(fields));
  if (!seq.ok()) log::Error("ledger append failed", {{"error", std::string(seq.status().message())}});
  std::lock_guard l(append_mu_);
  last_append_ = seq.status();
  if (!seq.ok()) ++append_failures_;
  return seq;
}

absl::Status Governor::last_append() const {
  std::lock_guard l(append_mu_);
  return last_append_;
}

uint64_t Governor::append_failures() const {
  std::lock_guard l(append_mu_);
  return append_failures_;
}

DecisionSummary Governor::Summarize(const Entry& e) {
  DecisionSummary s;
  s.decision = e.decision;
  s.decision.clear_tao();
  s.workload = e.binding.workload_path();
  s.node_id = e.binding.node_id();
  s.action = e.action;
  s.target = e.target_text;
  s.reason = e.reason;
  s.break_glass = e.break_glass;
  s.reviewed = e.reviewed;
  return s;
}

std::vector<DecisionSummary> Governor::Decisions(size_t max) const {
  std::vector<DecisionSummary> out;
  std::lock_guard l(mu_);
  const int64_t now = NowMs();
  for (auto it = order_.rbegin(); it != order_.rend() && out.size() < max; ++it) {
    auto d = decisions_.find(*it);
    if (d == decisions_.end()) continue;
    out.push_back(Summarize(*d->second));
    // A window that passed shows as expired before the next touch records it.
    if (d->second->pending() && !d->second->issuing && now >= d->second->pending_until_ms)
      out.back().decision.set_outcome(v1::OUTCOME_EXPIRED);
  }
  return out;
}

absl::StatusOr<DecisionSummary> Governor::Summary(const std::string& id) {
  auto e = Find(id);
  if (!e) return absl::NotFoundError("no such decision");
  std::lock_guard l(mu_);
  ExpireLocked(*e, NowMs());
  return Summarize(*e);
}

void Governor::Remember(std::shared_ptr<Entry> e) {
  std::lock_guard l(mu_);
  order_.push_back(e->id);
  decisions_[e->id] = std::move(e);
  // Forget the oldest finished decisions beyond the bound; pending ones stay.
  size_t scanned = 0;
  while (decisions_.size() > options_.max_decisions && scanned++ < order_.size()) {
    std::string id = order_.front();
    order_.pop_front();
    auto it = decisions_.find(id);
    if (it == decisions_.end()) continue;
    if (it->second->pending() || it->second->issuing) {
      order_.push_back(id);
      continue;
    }
    decisions_.erase(it);
  }
}

std::shared_ptr<Governor::Entry> Governor::Find(const std::string& id) {
  {
    std::lock_guard l(mu_);
    auto it = decisions_.find(id);
    if (it != decisions_.end()) return it->second;
  }
  if (!shared_) return nullptr;
  // Replicas: a decision another replica holds for approval.
  auto text = shared_->GetDecision(id);
  if (!text.ok()) log::Warn("replicas: cannot read a shared decision", {{"error", std::string(text.status().message())}});
  if (!text.ok() || !*text) return nullptr;
  Entry fresh;
  if (absl::Status s = DecodeShared(**text, fresh); !s.ok()) {
    log::Error("replicas: malformed shared decision", {{"decision_id", id}, {"error", std::string(s.message())}});
    return nullptr;
  }
  return Adopt(std::move(fresh));
}

v1::Decision Governor::View(const Entry& e, const std::string& actor) const {
  v1::Decision d = e.decision;
  if (actor != e.caller) d.clear_tao();
  return d;
}

absl::StatusOr<std::shared_ptr<Governor::Entry>> Governor::NewEntry(
    const std::string& actor, const v1::WorkloadBinding& binding, const std::string& workload,
    const std::string& action, const v1::Target& target, const std::string& policy_hex) {
  auto e = std::make_shared<Entry>();
  TG_ASSIGN_OR_RETURN(e->id, internal::NewDecisionId());
  e->requester = actor;
  e->caller = actor;
  e->binding = binding;
  e->binding.clear_workload_path();  // only the governor binds a path (BindWorkload)
  e->workload = workload;
  e->action = action;
  e->target = target;
  e->policy_hex = policy_hex;
  return e;
}

ledger::Fields Governor::EntryFields(const Entry& e) {
  ledger::Fields f = RequestFields(e.id, e.requester, e.binding, e.workload, e.action,
                                   e.target_text, e.policy_hex);
  if (e.attested) f.emplace_back("event", "attested");
  if (!e.annotations.empty()) f.emplace_back("annotations", e.annotations);
  return f;
}

absl::Status Governor::RecordDenial(const Entry& e, const std::string& code, const std::string& why,
                                    ledger::Fields extra) {
  ledger::Fields f = EntryFields(e);
  f.emplace_back("decision", "DENY");
  f.emplace_back("reason_code", code);
  f.emplace_back("error", internal::LedgerSafe(why));
  for (auto& x : extra) f.push_back(std::move(x));
  TG_RETURN_IF_ERROR(Append(RecordKind::kDenied, std::move(f)).status());
  std::lock_guard l(mu_);
  ++stats_.deny;
  if (code == "rate_limited") ++stats_.rate_limited;
  return absl::OkStatus();
}

policies::Decision Governor::Evaluate(const policies::Policy& policy, Entry& e,
                                      const v1::AuthorizationRequest& req,
                                      policies::WorkloadAttributes workload,
                                      const policies::TargetRef& target) {
  policies::Request pr;
  pr.actor = e.requester;
  pr.workload = std::move(workload);
  pr.action = req.action_class();
  pr.target = target;
  policies::Decision pd = policy.Evaluate(pr);
  e.ttl = pd.ttl;
  v1::Decision& d = e.decision;
  d.set_decision_id(e.id);
  d.set_rule(pd.rule_id);
  d.set_reason(pd.reason);
  d.set_policy_sha256(e.policy_hex);
  d.set_requester(e.requester);
  d.set_intent_sha256(internal::IntentHash(e.id, e.requester, e.binding, e.workload, e.action,
                                           e.target_text, e.policy_hex, e.ttl.count()));
  return pd;
}

absl::StatusOr<v1::Decision> Governor::Deny(std::shared_ptr<Entry> e, const policies::Decision& pd,
                                            const std::string& reason_field) {
  e->decision.set_outcome(v1::OUTCOME_DENY);
  TG_RETURN_IF_ERROR(RecordDenial(*e, "policy", pd.reason, {{"rule", pd.rule_id}, {"reason", reason_field}}));
  Remember(e);
  return e->decision;
}

absl::StatusOr<v1::Decision> Governor::AwaitApprovals(std::shared_ptr<Entry> e,
                                                      const policies::Decision& pd,
                                                      const policies::ReasonRecord& reason) {
  e->approval = *pd.approval;
  e->pending_until_ms = NowMs() + options_.approval_window_ms;
  v1::Decision& d = e->decision;
  d.set_outcome(v1::OUTCOME_PENDING_APPROVAL);
  d.set_approvals_needed(pd.approval->count);
  for (const auto& r : pd.approval->roles) d.add_approver_roles(r);
  d.set_pending_until_ms(e->pending_until_ms);
  e->reason = reason.summary;
  ledger::Fields f = EntryFields(*e);
  f.emplace_back("decision", "REQUIRE_APPROVAL");
  f.emplace_back("rule", pd.rule_id);
  f.emplace_back("approvals_required", std::to_string(pd.approval->count));
  std::string roles;
  for (const auto& r : pd.approval->roles) roles += (roles.empty() ? "" : ",") + r;
  f.emplace_back("scope", internal::LedgerSafe(roles));
  f.emplace_back("expires_at", std::to_string(e->pending_until_ms));
  f.emplace_back("reason", internal::ReasonField(reason));
  TG_ASSIGN_OR_RETURN(uint64_t seq, Append(RecordKind::kApprovalRequested, std::move(f)));
  d.set_ledger_seq(seq);
  // Replicas: approvals and watchers may come through any of them.
  if (shared_) TG_RETURN_IF_ERROR(shared_->PutDecision(e->id, EncodeShared(*e)));
  {
    std::lock_guard l(mu_);
    ++stats_.pending;
  }
  if (options_.notifier != nullptr) {
    Notification n{
        .event = "pending_approval",
         .summary = StrCat(e->requester, " asks for ", e->action, " on ", e->target_text, ": ",
                           pd.approval->count, " approval(s) needed"),
         .fields = {{"decision_id", e->id},
                    {"requester", e->requester},
                    {"workload", e->binding.workload_path()},
                    {"node_id", e->binding.node_id()},
                    {"action", e->action},
                    {"target", e->target_text},
                    {"rule", pd.rule_id},
                    {"reason", reason.summary},
                    {"approvals_needed", std::to_string(pd.approval->count)},
                    {"approver_roles", roles},
                    {"intent_sha256", ToHex(d.intent_sha256())},
                    {"expires_at_ms", std::to_string(e->pending_until_ms)},
                    {"ledger_seq", std::to_string(seq)},
                    {"approve_with", StrCat("taogatectl authz approve ", e->id, " --approver-key KEY.pem")}}};
    // One link per decision, shared by every webhook: opening it grants
    // nothing without the approver's own WebAuthn assertion.
    if (options_.console_link) n.fields.emplace_back("console_link", options_.console_link(e->id, e->pending_until_ms));
    options_.notifier->Notify(n);
  }
  Remember(e);
  return e->decision;
}

absl::StatusOr<v1::Decision> Governor::Permit(std::shared_ptr<Entry> e, const policies::Decision& pd,
                                              const std::string& reason_field) {
  TG_RETURN_IF_ERROR(Issue(*e, pd.ttl, {{"rule", pd.rule_id}, {"reason", reason_field}}));
  Remember(e);
  return View(*e, e->caller);
}

absl::StatusOr<v1::Decision> Governor::RequestAuthorization(const std::string& actor,
                                                            const v1::AuthorizationRequest& req) {
  const Clock& clock = options_.clock ? *options_.clock : RealClock();
  const int64_t start = clock.MonoNs();
  absl::StatusOr<v1::Decision> d = Decide(actor, req);
  const size_t i = !d.ok()                                      ? 3
                   : d->outcome() == v1::OUTCOME_PERMIT          ? 0
                   : d->outcome() == v1::OUTCOME_PENDING_APPROVAL ? 2
                                                                  : 1;
  latency_[i].Observe(clock.MonoNs() - start);
  return d;
}

std::string Governor::LatencyText() const {
  std::string out = runtime::Family("taogate_governor_decision_seconds", "histogram",
                                    "RequestAuthorization latency by outcome (error: refused before a decision).");
  const char* outcomes[] = {"permit", "deny", "pending_approval", "error"};
  for (size_t i = 0; i < latency_.size(); ++i)
    out += latency_[i].Samples("taogate_governor_decision_seconds", StrCat("outcome=\"", outcomes[i], "\""));
  return out;
}

absl::StatusOr<v1::Decision> Governor::Decide(const std::string& actor, const v1::AuthorizationRequest& req) {
  auto policy = this->policy();
  const bool attested = req.has_attested();
  TG_ASSIGN_OR_RETURN(
      std::shared_ptr<Entry> e,
      NewEntry(actor, attested ? internal::ClaimedBinding(req.attested()) : req.binding(),
               req.workload(), req.action_class(), req.target(), policy->HashHex()));
  // An accepted attestation names the actor (and so the rate-limit bucket);
  // a refused one is the caller's.
  std::optional<absl::StatusOr<internal::Attestation>> att;
  if (attested) {
    att = internal::Attest(actor, req.attested(), options_.trust_domain);
    if (att->ok()) {
      e->requester = (*att)->actor;
      e->attested = true;
    }
  }
  // Replicas draw from one bucket per actor in the shared store.
  absl::Status limited;
  if (!shared_) {
    limited = limiter_->TryAcquire(e->requester);
  } else if (auto l = limiter_->LimitOf(e->requester)) {
    limited = shared_->TakeToken(e->requester, l->tokens_per_second, l->burst, NowMs());
  }
  if (const absl::Status& s = limited; !s.ok()) {
    // A store that cannot answer is not a limit: refused (fail closed), as
    // the ledger would refuse the decision anyway.
    if (s.code() == absl::StatusCode::kResourceExhausted)
      TG_RETURN_IF_ERROR(RecordDenial(*e, "rate_limited", std::string(s.message()), {}));
    return s;
  }
  if (att && !att->ok()) {
    const absl::Status& s = att->status();
    const bool trust = s.code() == absl::StatusCode::kPermissionDenied;
    TG_RETURN_IF_ERROR(RecordDenial(*e, trust ? "attestation" : "invalid",
                                    std::string(s.message()), {{"event", "attested"}}));
    return s;
  }
  const internal::Attestation* a = att ? &**att : nullptr;
  auto checked = internal::CheckRequest(req, a ? &a->binding : nullptr);
  if (!checked.ok()) {
    TG_RETURN_IF_ERROR(RecordDenial(*e, "invalid", std::string(checked.status().message()), {}));
    return checked.status();
  }
  e->target_text = policies::FormatTargetRef(checked->target);
  e->annotations = std::move(checked->annotations);  // recorded with the decision, never evaluated
  e->binding = a ? a->binding : internal::BindWorkload(req.binding(), req.cgroup_path());
  const policies::Decision pd =
      Evaluate(*policy, *e, req, a ? a->attributes : internal::ToAttributes(e->binding),
               checked->target);
  const std::string reason_field = internal::ReasonField(checked->reason);
  if (pd.effect == policies::Effect::kDeny) return Deny(std::move(e), pd, reason_field);
  if (pd.effect == policies::Effect::kRequireApproval && pd.approval)
    return AwaitApprovals(std::move(e), pd, checked->reason);
  return Permit(std::move(e), pd, reason_field);
}

absl::StatusOr<v1::Decision> Governor::GetDecision(const std::string& actor, const std::string& id) {
  auto e = Find(id);
  if (!e) return absl::NotFoundError("no such decision");
  std::unique_lock l(mu_);
  ExpireLocked(*e, NowMs());
  return View(*e, actor);
}

absl::StatusOr<std::pair<v1::Decision, uint64_t>> Governor::WaitDecision(
    const std::string& actor, const std::string& id, uint64_t seen_version,
    std::chrono::steady_clock::time_point deadline) {
  auto e = Find(id);
  if (!e) return absl::NotFoundError("no such decision");
  std::unique_lock l(mu_);
  while (true) {
    ExpireLocked(*e, NowMs());
    if (e->version != seen_version || shutdown_) break;
    // Wake up at least every second to notice the approval window passing.
    auto until = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    if (cv_.wait_until(l, until) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline)
      break;
  }
  return std::make_pair(View(*e, actor), e->version);
}

absl::Status Governor::Issue(Entry& e, std::chrono::seconds ttl, ledger::Fields extra) {
  auto fail = [&](const absl::Status& why) {
    {
      std::lock_guard l(mu_);
      ++stats_.issue_errors;
      e.decision.set_outcome(v1::OUTCOME_DENY);
      e.decision.set_reason("TAO issuance failed");
      e.issuing = false;
      ++e.version;
    }
    cv_.notify_all();
    ledger::Fields f = {{"decision_id", e.id}, {"actor", internal::LedgerSafe(e.requester)},
                        {"decision", "DENY"}, {"reason_code", "issuance_failed"},
                        {"error", internal::LedgerSafe(std::string(why.message()))}};
    // Append logs a failure; the caller gets `why` and no TAO either way
    // (fail closed), so a lost DENIED record cannot grant anything.
    (void)Append(RecordKind::kDenied, std::move(f));
    return why;
  };
  auto key = keys_->CurrentIssuingKey();  // Unavailable while the TPM is gone
  if (!key.ok()) return fail(key.status());
  auto policy_hash = FromHex(e.policy_hex);
  if (!policy_hash.ok()) return fail(policy_hash.status());
  v1::TaoBody body;
  body.set_version(tao::kTaoVersion);
  std::array<uint8_t, 32> rnd{};
  if (auto s = crypto::RandomBytes(rnd); !s.ok()) return fail(s);
  body.set_id(rnd.data(), 16);
  body.set_nonce(rnd.data() + 16, 16);
  body.set_actor(e.requester);
  *body.mutable_binding() = e.binding;
  body.set_action_class(e.action);
  *body.mutable_target() = e.target;
  body.set_max_uses(1);
  const int64_t now = NowMs();
  body.set_not_before_ms(now);
  body.set_expires_at_ms(now + ttl.count() * 1000);
  body.set_policy_bundle_sha256(policy_hash->data(), policy_hash->size());
  const bool bg = e.break_glass;
  ledger::Fields f = EntryFields(e);
  f.emplace_back("decision", "PERMIT");
  if (bg) f.emplace_back("event", "issue");
  f.emplace_back("tao_id", ToHex(body.id()));
  f.emplace_back("key_id", ToHex((*key)->key_id()));
  f.emplace_back("not_before", std::to_string(body.not_before_ms()));
  f.emplace_back("expires_at", std::to_string(body.expires_at_ms()));
  f.emplace_back("ttl_s", std::to_string(ttl.count()));
  if (!e.approvers.empty()) f.emplace_back("approvals", std::to_string(e.approvers.size()));
  for (auto& x : extra) f.push_back(std::move(x));
  auto seq = Append(bg ? RecordKind::kBreakGlass : RecordKind::kIssued, std::move(f));
  if (!seq.ok()) return fail(seq.status());
  body.set_decision_ledger_index(*seq);
  auto tao = (*key)->SignTao(std::move(body));
  if (!tao.ok()) return fail(tao.status());
  {
    std::lock_guard l(mu_);
    e.decision.set_outcome(v1::OUTCOME_PERMIT);
    e.decision.set_tao(tao->SerializeAsString());
    e.decision.set_ledger_seq(*seq);
    e.decision.set_review_required(bg);
    e.issuing = false;
    ++e.version;
    ++stats_.permit;
  }
  cv_.notify_all();
  return absl::OkStatus();
}

void Governor::Shutdown() {
  {
    std::lock_guard l(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

bool Governor::shutting_down() const {
  std::lock_guard l(mu_);
  return shutdown_;
}

Governor::Stats Governor::stats() const {
  std::lock_guard l(mu_);
  return stats_;
}

}  // namespace taogate::governance
