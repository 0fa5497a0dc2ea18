// Policy activation, protected-target export, ledger proofs and the kill
// switch broadcast.

#include <algorithm>

#include "convert.h"
#include "governor_state.h"
#include "pg_state.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/selector_proto.h"
#include "taogate/ledger/note.h"

namespace taogate::governance {

using ledger::RecordKind;

namespace {

// A bundle workload with its selectors spelled out: agents match attested
// facts themselves.
void ToWire(const policies::WorkloadDef& d, v1::HoldWorkload* w) {
  w->set_id(d.id);
  for (const auto& v : d.nodes) w->add_nodes(v);
  for (const auto& v : d.cgroup_paths) w->add_cgroup_paths(v);
  for (const auto& v : d.exe_paths) w->add_exe_paths(v);
  for (const auto& v : d.exe_sha256) w->add_exe_sha256(v);
  for (const auto& v : d.namespaces) w->add_namespaces(v);
  for (const auto& v : d.service_accounts) w->add_service_accounts(v);
  w->mutable_pod_labels()->insert(d.pod_labels.begin(), d.pod_labels.end());
}

// The bundle's hold rules and audited workloads.
void AddWorkloadRules(const policies::Bundle& b, v1::ProtectedTargets& out) {
  for (const auto& d : b.workloads)
    if (d.audit) ToWire(d, out.add_audit_workloads());
  for (const auto& h : b.hold) {
    v1::HoldRule* r = out.add_hold();
    r->set_id(h.id);
    r->set_all_workloads(h.workloads.any);
    for (policies::Index i : h.workloads.items) ToWire(b.workloads[i], r->add_workloads());
    r->set_all_targets(h.targets.any);
    for (policies::Index i : h.targets.items) r->add_targets(b.targets[i].id);
    r->set_action_class(b.action_classes[h.action].id);
    r->set_max_hold_ms(h.max_hold_ms);
  }
}

v1::ProtectedTargets ToProto(const policies::Policy& p) {
  v1::ProtectedTargets out;
  out.set_policy_sha256(p.HashHex());
  auto set = p.ProtectedTargets();
  // One entry per protocol of a range; `host` is its cidr or (a named entry,
  // docs/names.md) its DNS name, never both: agents resolve names (or, until
  // they do, refuse the set).
  auto ranges = [&](const std::string& id, const auto& r, bool named, const std::string& host, bool audit) {
    for (auto [on, proto] : {std::pair{r.tcp, v1::TARGET_PROTO_TCP}, std::pair{r.udp, v1::TARGET_PROTO_UDP}}) {
      if (!on) continue;
      auto* t = out.add_targets();
      t->set_proto(proto);
      if (named) t->set_host_name(host);
      else t->set_cidr(host);
      t->set_port_from(r.port_lo);
      t->set_port_to(r.port_hi);
      t->set_name(id);
      t->set_audit(audit);  // docs/audit-mode.md
    }
  };
  for (const auto& n : set.networks) ranges(n.target_id, n.range, false, policies::CidrText(n.range), n.audit);
  for (const auto& n : set.names) ranges(n.target_id, n.range, true, n.range.host, n.audit);
  auto paths = [&](const std::vector<policies::ProtectedTargetSet::Path>& v, v1::TargetProto proto) {
    for (const auto& entry : v) {
      auto* t = out.add_targets();
      t->set_proto(proto);
      t->set_path(entry.path);
      t->set_name(entry.target_id);
      t->set_audit(entry.audit);
    }
  };
  paths(set.unix_paths, v1::TARGET_PROTO_UNIX);
  paths(set.file_paths, v1::TARGET_PROTO_FILE);
  paths(set.binaries, v1::TARGET_PROTO_EXEC);
  // Which pods the targets are protected from: agents in pods mode classify
  // with exactly these (and re-validate them, selector_proto.h).
  for (const auto& s : p.bundle().governed_pods) *out.add_governed_pods() = k8s::ToProto(s);
  AddWorkloadRules(p.bundle(), out);
  return out;
}

}  // namespace

absl::Status Governor::Activate(const std::string& actor, const std::string& yaml,
                                const std::string& name, std::vector<std::string>* errors) {
  std::lock_guard activation(activate_mu_);
  std::vector<policies::ValidationError> verrs;
  auto loaded = policies::Policy::Load(yaml, name.empty() ? "bundle.yaml" : name, &verrs);
  auto old = policy();
  const std::string old_hex = old ? old->HashHex() : "";
  if (!loaded.ok()) {
    for (const auto& v : verrs) errors->push_back(v.ToString());
    if (verrs.empty()) errors->push_back(std::string(loaded.status().message()));
    ledger::Fields f = {{"actor", internal::LedgerSafe(actor)},
                        {"event", "activate_policy"},
                        {"decision", "DENY"},
                        {"reason_code", "invalid_bundle"},
                        {"policy_sha256", ToHex(crypto::Sha256(yaml))},
                        {"count", std::to_string(errors->size())},
                        {"error", internal::LedgerSafe(errors->front())}};
    TG_RETURN_IF_ERROR(Append(RecordKind::kDenied, std::move(f)).status());
    return absl::InvalidArgumentError("invalid policy bundle; the active bundle is unchanged");
  }
  const auto& np = *loaded;
  ledger::Fields f = {{"actor", internal::LedgerSafe(actor)},
                      {"policy_sha256", np->HashHex()},
                      {"scope", old_hex.empty() ? "none" : old_hex},
                      {"count", std::to_string(np->bundle().rules.size())},
                      {"version", internal::LedgerSafe(np->bundle().name, 128)}};
  // Durable first: a bundle is active only once its activation is recorded.
  TG_RETURN_IF_ERROR(Append(RecordKind::kPolicyActivated, std::move(f)).status());
  if (shared_) {  // replicas: every one follows it
    TG_ASSIGN_OR_RETURN(policy_seq_, shared_->AppendPolicy({0, actor, name, yaml, np->HashHex()}));
  }
  Install(np, yaml);
  log::Info("policy activated", {{"policy_sha256", np->HashHex()}, {"actor", actor}});
  return absl::OkStatus();
}

void Governor::Install(std::shared_ptr<const policies::Policy> np, const std::string& yaml) {
  {
    std::lock_guard l(policy_mu_);
    policy_ = np;
    policy_yaml_ = yaml;
  }
  limiter_->Reconfigure(np->rate_limits());
  {
    std::lock_guard l(mu_);
    ++policy_version_;
    ++stats_.activations;
  }
  cv_.notify_all();
}

absl::StatusOr<bool> Governor::MergePolicy(const std::string& startup_actor) {
  std::lock_guard activation(activate_mu_);
  TG_ASSIGN_OR_RETURN(std::optional<internal::SharedPolicy> latest, shared_->LatestPolicy(policy_seq_));
  if (!latest) return policy_seq_ > 0;  // nothing newer than ours (or nothing at all)
  std::vector<policies::ValidationError> verrs;
  auto loaded = policies::Policy::Load(latest->yaml, latest->name.empty() ? "bundle.yaml" : latest->name, &verrs);
  // It loaded on the replica that activated it: a refusal here is a build
  // that disagrees on the bundle format. Keep the active one and say so.
  if (!loaded.ok())
    return absl::FailedPreconditionError(StrCat("the policy activated by ", latest->actor, " (shared seq ",
                                                latest->seq, ") does not load here: ", loaded.status().message()));
  if (!startup_actor.empty()) {
    ledger::Fields f = {{"actor", internal::LedgerSafe(startup_actor)},
                        {"event", "shared_policy"},
                        {"policy_sha256", (*loaded)->HashHex()},
                        {"scope", "none"},
                        {"count", std::to_string((*loaded)->bundle().rules.size())},
                        {"version", internal::LedgerSafe((*loaded)->bundle().name, 128)}};
    TG_RETURN_IF_ERROR(Append(RecordKind::kPolicyActivated, std::move(f)).status());
  }
  policy_seq_ = latest->seq;
  Install(*loaded, latest->yaml);
  log::Info("policy activated on another replica is now active here",
            {{"policy_sha256", (*loaded)->HashHex()}, {"actor", latest->actor}, {"shared_seq", std::to_string(latest->seq)}});
  return true;
}

absl::StatusOr<v1::ActivatePolicyResponse> Governor::ActivatePolicy(
    const std::string& actor, const v1::ActivatePolicyRequest& req) {
  if (!IsAdmin(actor)) return absl::PermissionDeniedError("only governor admins activate policy");
  v1::ActivatePolicyResponse r;
  std::vector<std::string> errors;
  auto s = Activate(actor, req.bundle_yaml(), req.name(), &errors);
  if (!s.ok() && errors.empty()) return s;  // ledger failure
  for (auto& e : errors) r.add_errors(std::move(e));
  auto p = policy();
  r.set_policy_sha256(p->HashHex());  // the bundle active now (the old one when refused)
  r.set_ledger_seq(ledger_->Size() - 1);
  return r;
}

absl::Status Governor::ActivateFile(const std::string& path, const std::string& yaml,
                                   std::vector<std::string>* errors) {
  return Activate(StrCat("file:", path), yaml, path, errors);
}

absl::Status Governor::RecordReload(bool ok, std::vector<ledger::Fields> records) {
  {
    std::lock_guard l(mu_);
    ++(ok ? stats_.reload_ok : stats_.reload_refused);
  }
  for (auto& f : records) TG_RETURN_IF_ERROR(Append(RecordKind::kReloaded, std::move(f)).status());
  return absl::OkStatus();
}

v1::GetPolicyResponse Governor::GetPolicy() const {
  std::lock_guard l(policy_mu_);
  v1::GetPolicyResponse r;
  r.set_policy_sha256(policy_->HashHex());
  r.set_bundle_yaml(policy_yaml_);
  return r;
}

std::pair<v1::ProtectedTargets, uint64_t> Governor::ProtectedTargets() const {
  uint64_t v;
  {
    std::lock_guard l(mu_);
    v = policy_version_;
  }
  return {ToProto(*policy()), v};
}

bool Governor::WaitPolicyChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock l(mu_);
  cv_.wait_until(l, deadline, [&] { return shutdown_ || policy_version_ > seen; });
  return policy_version_ > seen && !shutdown_;
}

absl::StatusOr<v1::LedgerCheckpointResponse> Governor::Checkpoint() {
  TG_ASSIGN_OR_RETURN(std::string note, ledger_->Checkpoint());
  v1::LedgerCheckpointResponse r;
  r.set_checkpoint(note);
  r.set_key_certificate(keys_->checkpoint->key().certificate());
  r.set_verifier_key(keys_->checkpoint->VerifierKey());
  return r;
}

absl::StatusOr<v1::LedgerCheckpointResponse> Governor::CheckpointCovering(uint64_t seq) {
  if (auto note = ledger_->LatestCheckpoint()) {
    auto parsed = ledger::ParseSignedNote(*note);
    // Replicas: another replica's checkpoint names a key this one cannot vouch for.
    const std::string vkey = keys_->checkpoint->VerifierKey();
    const bool ours = parsed.ok() && !parsed->signatures.empty() &&
                      vkey.rfind(parsed->signatures[0].key_name + "+", 0) == 0;
    if (ours)
      if (auto body = ledger::ParseCheckpointBody(parsed->body); body.ok() && body->tree_size > seq) {
        v1::LedgerCheckpointResponse r;
        r.set_checkpoint(*note);
        r.set_key_certificate(keys_->checkpoint->key().certificate());
        r.set_verifier_key(keys_->checkpoint->VerifierKey());
        return r;
      }
  }
  return Checkpoint();
}

absl::StatusOr<uint64_t> Governor::RecordEnrollment(const std::string& identity, ledger::Fields evidence) {
  ledger::Fields f = {{"actor", internal::LedgerSafe(identity)}, {"event", "enroll"}};
  f.insert(f.end(), evidence.begin(), evidence.end());
  return Append(ledger::RecordKind::kApproverEnrolled, std::move(f));
}

absl::StatusOr<v1::GovernorLedgerProofResponse> Governor::Proof(uint64_t seq,
                                                                uint64_t tree_size) const {
  if (tree_size == 0) tree_size = ledger_->Size();
  TG_ASSIGN_OR_RETURN(auto p, ledger_->ProveInclusion(seq, tree_size));
  v1::GovernorLedgerProofResponse r;
  r.set_seq(p.seq);
  r.set_tree_size(p.tree_size);
  r.set_leaf_hash_hex(ToHex(p.leaf_hash));
  for (const auto& h : p.path) r.add_audit_path_hex(ToHex(h));
  r.set_root_hex(ToHex(p.root));
  return r;
}

absl::StatusOr<v1::GovernorLedgerReadResponse> Governor::LedgerRead(
    const std::string& actor, const v1::GovernorLedgerReadRequest& req) const {
  if (!IsAdmin(actor)) return absl::PermissionDeniedError("only governor admins read the ledger");
  const uint32_t max = req.max_records() == 0 ? 1000 : std::min<uint32_t>(req.max_records(), 1000);
  v1::GovernorLedgerReadResponse r;
  const uint64_t size = ledger_->Size();
  r.set_size(size);
  if (req.from_seq() > size)
    return absl::OutOfRangeError(
        StrCat("from_seq ", req.from_seq(), " is past the governor ledger's end (size ", size, ")"));
  TG_RETURN_IF_ERROR(ledger_->Scan(req.from_seq(), [&](const ledger::Record& rec) {
    if (rec.seq >= size || static_cast<uint32_t>(r.records_size()) >= max) return false;
    auto* o = r.add_records();
    o->set_seq(rec.seq);
    o->set_time_ns(rec.time_ns);
    o->set_kind(ledger::KindName(rec.kind));
    o->set_hash_hex(ToHex(rec.hash));
    o->set_prev_hash_hex(ToHex(rec.prev_hash));
    for (const auto& [k, v] : rec.fields) (*o->mutable_fields())[k] = v;
    return true;
  }));
  return r;
}

absl::StatusOr<v1::GovernorKillSwitchResponse> Governor::KillSwitch(
    const std::string& actor, v1::GovernorKillSwitchRequest req) {
  if (!IsAdmin(actor)) return absl::PermissionDeniedError("only governor admins use the kill switch");
  auto reason = policies::SanitizeReason(req.reason());
  if (!reason.ok()) return reason.status();
  ledger::Fields f = {{"actor", internal::LedgerSafe(actor)},
                      {"verdict", req.engage() ? "engage" : "release"},
                      {"node_id", req.node_id().empty() ? "*" : internal::LedgerSafe(req.node_id())},
                      {"workload", req.workload().empty() ? "*" : internal::LedgerSafe(req.workload())},
                      {"reason", internal::ReasonField(*reason)}};
  // Sequence numbers and the ledger order agree: one broadcast at a time.
  std::lock_guard activation(activate_mu_);
  TG_ASSIGN_OR_RETURN(uint64_t seq, Append(RecordKind::kKillSwitch, std::move(f)));
  v1::GovernorKillSwitchResponse r;
  r.set_ledger_seq(seq);
  req.set_reason(reason->summary);
  if (shared_) {
    // Replicas: the shared table orders broadcasts; this one reaches the
    // local watchers through the merge, in that order.
    TG_ASSIGN_OR_RETURN(uint64_t shared, shared_->AppendKillSwitch(req));
    r.set_sequence(shared);
    TG_RETURN_IF_ERROR(MergeKillSwitch());
  } else {
    std::lock_guard l(mu_);
    req.set_sequence(++kill_seq_);
    kill_log_.push_back(req);
    r.set_sequence(kill_seq_);
  }
  cv_.notify_all();
  if (options_.notifier != nullptr) {
    const std::string scope = req.node_id().empty() ? "every node" : StrCat("node ", req.node_id());
    const std::string who = req.workload().empty() ? "every governed workload" : StrCat("workload ", req.workload());
    options_.notifier->Notify(
        {.event = "kill_switch",
         .summary = StrCat(actor, req.engage() ? " engaged" : " released", " the kill switch for ", who, " on ",
                           scope),
         .fields = {{"verdict", req.engage() ? "engage" : "release"},
                    {"actor", actor},
                    {"node_id", req.node_id().empty() ? "*" : req.node_id()},
                    {"workload", req.workload().empty() ? "*" : req.workload()},
                    {"reason", reason->summary},
                    {"sequence", std::to_string(r.sequence())},
                    {"ledger_seq", std::to_string(seq)}}});
  }
  return r;
}

absl::Status Governor::MergeKillSwitch() {
  std::lock_guard merge(kill_merge_mu_);
  uint64_t after;
  {
    std::lock_guard l(mu_);
    after = kill_seq_;
  }
  TG_ASSIGN_OR_RETURN(auto fresh, shared_->KillSwitchSince(after));
  if (fresh.empty()) return absl::OkStatus();
  {
    std::lock_guard l(mu_);
    for (auto& m : fresh) {
      kill_seq_ = m.sequence();
      kill_log_.push_back(std::move(m));
    }
  }
  cv_.notify_all();
  return absl::OkStatus();
}

std::vector<v1::GovernorKillSwitchRequest> Governor::WaitKillSwitch(
    const std::string& node_id, uint64_t after, std::chrono::steady_clock::time_point deadline,
    uint64_t* latest) {
  std::unique_lock l(mu_);
  cv_.wait_until(l, deadline, [&] { return shutdown_ || kill_seq_ > after; });
  std::vector<v1::GovernorKillSwitchRequest> out;
  for (const auto& m : kill_log_)
    if (m.sequence() > after && (m.node_id().empty() || m.node_id() == node_id)) out.push_back(m);
  *latest = std::max(after, kill_seq_);
  return out;
}

}  // namespace taogate::governance
