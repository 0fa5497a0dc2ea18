#include "taogate/agent/node_control.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "taogate/agent/wildcard_listeners.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/common/version.h"
#include "taogate/k8s/pod_cgroup.h"

namespace taogate::agent {
namespace {

std::string HashHex(const ledger::Hash& h) { return ToHex(std::span<const uint8_t>(h.data(), h.size())); }

// Operator text goes to the ledger bounded and printable.
std::string CleanReason(const std::string& r) {
  std::string out;
  for (char c : r.substr(0, 160)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  return out;
}

absl::Status WriteCgroupFile(const std::string& dir, const char* file, const char* value) {
  std::ofstream f(dir + "/" + file);
  if (!(f << value) || !f.flush()) return absl::UnavailableError(StrCat("cannot write ", dir, "/", file));
  return absl::OkStatus();
}

void FillHooks(const bpf::ProbeReport& r, google::protobuf::RepeatedPtrField<v1::HookStatus>* out) {
  for (const auto& h : r.hooks) {
    auto* s = out->Add();
    s->set_hook(h.name);
    s->set_state(std::string(bpf::HookStateName(h.state)));
    s->set_detail(h.detail);
  }
}

void FillCapabilities(const Enforcement* e, google::protobuf::RepeatedPtrField<v1::Capability>* out) {
  if (e == nullptr) return;
  for (const auto& c : e->Capabilities()) {
    auto* s = out->Add();
    s->set_capability(c.name);
    s->set_mechanism(std::string(enforce::MechanismName(c.mechanism)));
    s->set_state(std::string(bpf::HookStateName(c.state)));
    s->set_hooks(c.hooks);
    s->set_detail(c.detail);
  }
}

}  // namespace

// What the config asks for (docs/agent.md, "Exit codes"): the gate's inet
// hooks and the kill switch always; unix, files, exec when targets of that
// kind are protected; files, exec and self-protection with lsm: require;
// network-names when the governor's set names a host.
void GateNodeControl::MarkRequested(google::protobuf::RepeatedPtrField<v1::Capability>* rows) const {
  auto has = [](const std::vector<std::string>& specs, std::string_view prefix) {
    return std::any_of(specs.begin(), specs.end(), [&](const std::string& s) { return s.starts_with(prefix); });
  };
  const bool require_lsm = config_.lsm == "require";
  const bool unix_targets = has(config_.protected_targets, "unix:") ||
                            (target_sync_ != nullptr && has(target_sync_->NetworkTargetSpecs(), "unix:"));
  for (v1::Capability& c : *rows) {
    const std::string& n = c.capability();
    c.set_requested(n == "network-inet" || n == "kill-switch" || (n == "network-unix" && unix_targets) ||
                    (n == "files" && (require_lsm || !config_.protected_files.empty())) ||
                    (n == "exec" && (require_lsm || !config_.protected_binaries.empty())) ||
                    (n == "self-protection" && require_lsm) ||
                    (n == "network-names" && target_sync_ != nullptr && !target_sync_->Names().empty()));
  }
}

GateNodeControl::GateNodeControl(const AgentConfig& config, KillSwitchGate& gate, ledger::Ledger& ledger,
                                 Evidence& evidence, Metrics& metrics, Redeemer& redeemer)
    : config_(config), gate_(gate), ledger_(ledger), evidence_(evidence),
      metrics_(metrics), redeemer_(redeemer) {
  std::vector<std::string> t = config.protected_targets;
  std::sort(t.begin(), t.end());
  std::string joined;
  for (const auto& s : t) joined += s + "\n";
  targets_sha256_ = ToHex(crypto::Sha256(joined));
}

void GateNodeControl::FillStatus(v1::StatusResponse* out) {
  out->set_node_id(config_.node_id);
  out->set_version(kVersion);
  FillHooks(gate_.Probe(), out->mutable_hooks());
  FillCapabilities(enforcer_, out->mutable_capabilities());
  uint64_t size = ledger_.Size();
  out->set_ledger_size(size);
  if (auto root = ledger_.RootAt(size); root.ok()) out->set_ledger_root_hex(HashHex(*root));
  out->set_consumed_total(redeemer_.ConsumedCount());
  out->set_rejected_total(metrics_.rejected_total());
  auto q = gate_.QuarantinedCount();
  auto all = gate_.QuarantineAllEngaged();
  uint64_t quarantined = q.ok() ? *q : 0;
  if (all.ok() && *all) quarantined = std::max(quarantined, CountWorkloads());
  out->set_quarantined_workloads(quarantined);
  out->set_strict_keys(config_.strict_keys);
  out->set_policy_sha256(targets_sha256_);
  for (auto& w : ExposureWarnings()) out->add_warnings(std::move(w));
  FillNames(out);
  FillHold(out);
  FillAudit(out->mutable_capabilities(), out->mutable_audited_targets(), out->mutable_audited_workloads());
  MarkRequested(out->mutable_capabilities());
}

void GateNodeControl::FillProbe(v1::ProbeResponse* out) {
  FillHooks(gate_.Probe(), out->mutable_hooks());
  FillCapabilities(enforcer_, out->mutable_capabilities());
  for (auto& w : ExposureWarnings()) out->add_warnings(std::move(w));
  FillNameCapability(out->mutable_capabilities());
  FillAudit(out->mutable_capabilities(), nullptr, nullptr);
  FillHoldCapability(out->mutable_capabilities());
  MarkRequested(out->mutable_capabilities());
}

void GateNodeControl::FillAudit(google::protobuf::RepeatedPtrField<v1::Capability>* caps,
                                google::protobuf::RepeatedPtrField<std::string>* targets,
                                google::protobuf::RepeatedPtrField<std::string>* workloads) const {
  std::vector<AuditedWorkload> aw;
  if (root_audit_ != nullptr) aw = root_audit_->Audited();
  if (pods_ != nullptr) aw = pods_->AuditedWorkloads();
  std::string wlist;
  for (const auto& w : aw) {
    std::string line = StrCat(w.path.empty() ? StrCat("cgroup ", w.cgroup_id) : w.path, " (", w.rule, ")");
    wlist += (wlist.empty() ? "" : ", ") + line;
    if (workloads != nullptr) *workloads->Add() = std::move(line);
  }
  const std::vector<std::string> audited = target_sync_ ? target_sync_->AuditedTargetSpecs() : std::vector<std::string>{};
  if (audited.empty() && aw.empty()) return;
  auto* c = caps->Add();
  c->set_capability("audit");
  c->set_mechanism("cgroup-bpf");
  c->set_state("enforcing");
  c->set_hooks("cgroup/connect4, connect6, sendmsg4, sendmsg6, connect_unix, sendmsg_unix");
  std::string list;
  for (const auto& t : audited) list += (list.empty() ? "" : ", ") + t;
  c->set_detail(StrCat(audited.size(), " targets and ", aw.size(),
                       " workloads in audit mode, let through and recorded as WOULD_DENY (not enforced; quarantine "
                       "still denies): ", list.substr(0, 1000), aw.empty() ? "" : "; workloads: ", wlist.substr(0, 1000)));
  if (targets != nullptr)
    for (const auto& t : audited) *targets->Add() = t;
}

void GateNodeControl::FillHoldCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out) const {
  if (hold_ == nullptr) return;  // hold_socket off: nothing to report
  FillHoldCapability(out, HoldRuleCount(), hold_->stats());
}

size_t GateNodeControl::HoldRuleCount() const { return target_sync_ ? target_sync_->HoldRules().size() : 0; }

void GateNodeControl::FillHoldCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out, size_t rules,
                                         const hold::SupervisorStats& st) const {
  auto* c = out->Add();
  c->set_capability("hold");
  c->set_mechanism("seccomp-user-notify");
  c->set_hooks("connect, sendto (to a destination)");
  c->set_state("enforcing");
  c->set_detail(StrCat(rules, " hold rules, ", st.listeners, " listeners, ", st.held_now,
                       " held now; a held connect waits for a TAO, the gate stays the enforcement"));
}

void GateNodeControl::FillHold(v1::StatusResponse* out) const {
  if (hold_ == nullptr) return;
  // The row and the section from one read of each source (they agree).
  const size_t rules = HoldRuleCount();
  const hold::SupervisorStats st = hold_->stats();
  FillHoldCapability(out->mutable_capabilities(), rules, st);
  v1::HoldStatus* h = out->mutable_hold();
  h->set_socket(hold_->options().socket_path);
  h->set_max_hold_ms(hold_->options().max_hold_ms);
  h->set_rules(static_cast<uint32_t>(rules));
  h->set_listeners(st.listeners);
  h->set_held_now(st.held_now);
  h->set_held_total(st.held_total);
  h->set_continued(st.continued);
  h->set_failed(st.failed);
  h->set_timed_out(st.timed_out);
  h->set_gone(st.gone);
  h->set_not_held(hold_->not_held());
  for (const HeldCall& c : hold_->Held()) {
    v1::HeldCallStatus* s = h->add_held();
    s->set_workload(c.workload);
    s->set_pid(c.pid);
    s->set_exe(c.exe);
    s->set_target(c.target);
    s->set_rule(c.rule);
    s->set_decision_id(c.decision_id);
    s->set_since_unix_ms(c.since_unix_ms);
  }
}

void GateNodeControl::FillNameCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out) const {
  if (target_sync_ == nullptr || config_.governor_address.empty()) return;  // names come from a governor
  FillNameCapability(out, names_ ? target_sync_->Names() : std::vector<NameView>{},
                     names_ ? names_->Snapshot() : std::vector<dns::NameStatus>{});
}

void GateNodeControl::FillNameCapability(google::protobuf::RepeatedPtrField<v1::Capability>* out,
                                         const std::vector<NameView>& views,
                                         const std::vector<dns::NameStatus>& resolved) const {
  auto* c = out->Add();
  c->set_capability("network-names");
  c->set_mechanism(names_ ? "cgroup-bpf" : "none");
  c->set_hooks(names_ ? "cgroup/connect4, cgroup/connect6 (grant sets)" : "");
  if (names_ == nullptr) {
    c->set_state("absent");
    c->set_detail("no DNS resolver (dns.enabled false or no usable server): protected sets naming a host are "
                  "refused and the previous set stays");
    return;
  }
  size_t names = 0, addrs = 0, shared = 0, stale = 0;
  for (const auto& v : views) {
    ++names;
    addrs += v.addrs.size();
    if (!v.shared_with.empty()) ++shared;
  }
  for (const auto& n : resolved)
    if (n.stale_since_ns != 0) ++stale;
  c->set_state("enforcing");
  c->set_detail(StrCat(names, " names, ", addrs, " addresses, ", stale, " stale, ", shared,
                       " sharing an address; enforced by address: an address is protected for every name "
                       "that resolves to it, and a named grant covers the name's addresses at redeem"));
}

// The names' status, warnings and capability row from one read of each
// source (Names() and Snapshot() walk every name).
void GateNodeControl::FillNames(v1::StatusResponse* out) const {
  if (target_sync_ == nullptr || config_.governor_address.empty()) return;
  if (names_ == nullptr) {
    FillNameCapability(out->mutable_capabilities(), {}, {});
    return;
  }
  const std::vector<NameView> views = target_sync_->Names();
  const std::vector<dns::NameStatus> snapshot = names_->Snapshot();
  FillNameCapability(out->mutable_capabilities(), views, snapshot);
  std::map<std::string, const dns::NameStatus*> resolved;
  for (const auto& n : snapshot) resolved.emplace(n.name, &n);
  for (const auto& v : views) {
    auto* s = out->add_names();
    s->set_name(v.name);
    for (const auto& ip : v.addrs) s->add_addresses(target::FormatIp(ip));
    for (const auto& w : v.shared_with) s->add_shared_with(w);
    auto it = resolved.find(v.name);
    if (it == resolved.end()) continue;
    s->set_ttl_s(it->second->ttl_s);
    s->set_resolved(it->second->resolved);
    s->set_stale(it->second->stale_since_ns != 0);
    s->set_last_error(it->second->last_error);
    if (it->second->stale_since_ns != 0)
      out->add_warnings(StrCat("name ", v.name, " does not resolve (", it->second->last_error,
                               "): its last addresses stay protected"));
    if (!v.shared_with.empty())
      out->add_warnings(StrCat("name ", v.name, " shares an address with ", v.shared_with.front(),
                               v.shared_with.size() > 1 ? " and others" : "",
                               ": the address is protected for all of them"));
  }
}

std::vector<std::string> GateNodeControl::ExposureWarnings() const {
  return WildcardExposureWarnings(target_sync_ ? target_sync_->NetworkTargetSpecs() : config_.protected_targets,
                                  ReadWildcardListeners());
}

uint64_t GateNodeControl::CountWorkloads() const {
  std::error_code ec;
  uint64_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(config_.cgroup2_mount + config_.governed_cgroup, ec))
    if (e.is_directory(ec)) ++n;
  return n;
}

absl::StatusOr<GateNodeControl::Scope> GateNodeControl::ResolveScope(const v1::KillSwitchRequest& req) const {
  int set = (req.all() ? 1 : 0) + (req.workload().empty() ? 0 : 1) + (req.cgroup_id() != 0 ? 1 : 0);
  if (set != 1) return absl::InvalidArgumentError("scope: exactly one of workload, cgroup_id, all");
  Scope s;
  if (req.all()) {
    s.all = true;
    s.label = "all";
    return s;
  }
  if (req.cgroup_id() != 0) {
    s.cgroup_id = req.cgroup_id();
    s.label = StrCat("cgroup:", req.cgroup_id());
    return s;
  }
  if (pods_ != nullptr && IsPodScope(req.workload())) {
    TG_ASSIGN_OR_RETURN(s.pods, ParsePodScope(req.workload()));
    s.label = s.pods->label;
    return s;
  }
  // A workload is named relative to the governed root: "w1" or "/w1".
  std::string w = req.workload();
  if (w[0] != '/') w = "/" + w;
  if (w.find("..") != std::string::npos || w.size() < 2)
    return absl::InvalidArgumentError(StrCat("bad workload name ", req.workload()));
  std::string top = w.substr(0, w.find('/', 1));  // the workload-level cgroup
  if (pods_ != nullptr) {
    // The pod whose cgroup holds the path (pods sit one or two levels down).
    TG_ASSIGN_OR_RETURN(k8s::KubepodsRoot root, k8s::KubepodsRoot::Parse(config_.governed_cgroup));
    TG_ASSIGN_OR_RETURN(auto pod, k8s::ParsePodCgroup(root, config_.governed_cgroup + w));
    if (!pod) return absl::InvalidArgumentError(StrCat(req.workload(), " is not a pod's cgroup"));
    top = pod->pod_path.substr(config_.governed_cgroup.size());
  }
  s.path = config_.cgroup2_mount + config_.governed_cgroup + top;
  TG_ASSIGN_OR_RETURN(s.cgroup_id, CgroupIdOfPath(s.path));
  s.label = StrCat("workload:", top);
  return s;
}

absl::StatusOr<v1::KillSwitchResponse> GateNodeControl::KillSwitch(const v1::KillSwitchRequest& req,
                                                                  const PeerIdentity& who) {
  if (req.action() != v1::KILL_SWITCH_ENGAGE && req.action() != v1::KILL_SWITCH_RELEASE)
    return absl::InvalidArgumentError("action must be ENGAGE or RELEASE");
  TG_ASSIGN_OR_RETURN(Scope scope, ResolveScope(req));
  const bool engage = req.action() == v1::KILL_SWITCH_ENGAGE;
  if (engage && req.mode() == v1::KILL_SWITCH_MODE_FREEZE && scope.path.empty())
    return absl::InvalidArgumentError("freeze needs a workload scope (a cgroup path)");
  bpf::QuarantineMode qmode =
      req.mode() == v1::KILL_SWITCH_MODE_KILL ? bpf::QuarantineMode::kKill : bpf::QuarantineMode::kNetwork;
  const char* mode_name = req.mode() == v1::KILL_SWITCH_MODE_KILL     ? "kill"
                          : req.mode() == v1::KILL_SWITCH_MODE_FREEZE ? "freeze"
                                                                      : "deny";
  Evidence::Fields f = {{"event", engage ? "engage" : "release"},
                        {"scope", scope.label},
                        {"cgroup_id", std::to_string(scope.cgroup_id)},
                        {"verdict", engage ? mode_name : "released"},
                        {"reason", CleanReason(req.reason())},
                        {"uid", std::to_string(who.uid)},
                        {"pid", std::to_string(who.pid)}};

  std::lock_guard<std::mutex> l(killswitch_mu_);
  v1::KillSwitchResponse resp;
  if (scope.pods) return PodScopeKillSwitch(*scope.pods, engage, req.mode(), std::move(f));
  resp.set_affected_cgroups(scope.all ? CountWorkloads() : 1);
  if (engage) {
    TG_RETURN_IF_ERROR(scope.all ? gate_.QuarantineAll(qmode) : gate_.Quarantine(scope.cgroup_id, qmode));
    if (req.mode() == v1::KILL_SWITCH_MODE_FREEZE) TG_RETURN_IF_ERROR(WriteCgroupFile(scope.path, "cgroup.freeze", "1"));
    metrics_.KillSwitchChange();
    log::Warn("kill switch engaged", {{"scope", scope.label}, {"mode", mode_name}});
    auto seq = evidence_.Append(Evidence::Kind::kKillSwitch, std::move(f));
    if (!seq.ok())
      return absl::UnavailableError(StrCat("kill switch ENGAGED for ", scope.label,
                                           " but the ledger refused the record: ", seq.status().message()));
    resp.set_ledger_seq(*seq);
    return resp;
  }
  TG_ASSIGN_OR_RETURN(uint64_t seq, evidence_.Append(Evidence::Kind::kKillSwitch, std::move(f)));
  TG_RETURN_IF_ERROR(scope.all ? gate_.ReleaseAll() : gate_.Release(scope.cgroup_id));
  // Thawing is best effort: the release above already lifted the kill
  // switch in the kernel, and a cgroup left frozen denies, never allows.
  if (!scope.path.empty()) (void)WriteCgroupFile(scope.path, "cgroup.freeze", "0");
  metrics_.KillSwitchChange();
  log::Warn("kill switch released", {{"scope", scope.label}});
  resp.set_ledger_seq(seq);
  return resp;
}

// With killswitch_mu_ held. Engage: kernel first, then the record (as for
// cgroups); release: record first, then the kernel.
absl::StatusOr<v1::KillSwitchResponse> GateNodeControl::PodScopeKillSwitch(const PodScope& scope, bool engage,
                                                                          v1::KillSwitchMode mode,
                                                                          Evidence::Fields f) {
  if (mode == v1::KILL_SWITCH_MODE_FREEZE)
    return absl::InvalidArgumentError("freeze needs one cgroup path, not a pod scope");
  v1::KillSwitchResponse resp;
  if (engage) {
    TG_ASSIGN_OR_RETURN(size_t n, pods_->EngageScope(scope, mode == v1::KILL_SWITCH_MODE_KILL));
    resp.set_affected_cgroups(n);
    metrics_.KillSwitchChange();
    log::Warn("kill switch engaged", {{"scope", scope.label}, {"pods", std::to_string(n)}});
    f.emplace_back("count", std::to_string(n));
    auto seq = evidence_.Append(Evidence::Kind::kKillSwitch, std::move(f));
    if (!seq.ok())
      return absl::UnavailableError(StrCat("kill switch ENGAGED for ", scope.label,
                                           " but the ledger refused the record: ", seq.status().message()));
    resp.set_ledger_seq(*seq);
    return resp;
  }
  std::vector<std::string> engaged = pods_->EngagedScopes();
  if (std::find(engaged.begin(), engaged.end(), scope.label) == engaged.end())
    return absl::NotFoundError(StrCat("kill switch scope ", scope.label, " is not engaged"));
  TG_ASSIGN_OR_RETURN(uint64_t seq, evidence_.Append(Evidence::Kind::kKillSwitch, std::move(f)));
  TG_ASSIGN_OR_RETURN(size_t n, pods_->ReleaseScope(scope.label));
  resp.set_affected_cgroups(n);
  metrics_.KillSwitchChange();
  log::Warn("kill switch released", {{"scope", scope.label}, {"pods", std::to_string(n)}});
  resp.set_ledger_seq(seq);
  return resp;
}

absl::StatusOr<v1::LedgerTailResponse> GateNodeControl::LedgerTail(uint32_t count) {
  uint64_t size = ledger_.Size();
  return LedgerRead(size > count ? size - count : 0, count);
}

absl::StatusOr<v1::LedgerTailResponse> GateNodeControl::LedgerRead(uint64_t from_seq, uint32_t max) {
  v1::LedgerTailResponse out;
  uint64_t size = ledger_.Size();
  out.set_size(size);
  if (from_seq > size)
    return absl::OutOfRangeError(StrCat("from_seq ", from_seq, " is past the node ledger's end (size ", size, ")"));
  TG_RETURN_IF_ERROR(ledger_.Scan(from_seq, [&](const ledger::Record& r) {
    if (r.seq >= size || static_cast<uint32_t>(out.records_size()) >= max) return false;
    auto* rec = out.add_records();
    rec->set_seq(r.seq);
    rec->set_time_ns(r.time_ns);
    rec->set_kind(ledger::KindName(r.kind));
    rec->set_hash_hex(HashHex(r.hash));
    rec->set_prev_hash_hex(HashHex(r.prev_hash));
    for (const auto& [k, v] : r.fields) (*rec->mutable_fields())[k] = v;
    return true;
  }));
  return out;
}

absl::StatusOr<v1::LedgerProofResponse> GateNodeControl::LedgerProof(uint64_t seq, uint64_t tree_size) {
  if (tree_size == 0) tree_size = ledger_.Size();
  TG_ASSIGN_OR_RETURN(ledger::InclusionProof p, ledger_.ProveInclusion(seq, tree_size));
  v1::LedgerProofResponse out;
  out.set_seq(p.seq);
  out.set_tree_size(p.tree_size);
  out.set_leaf_hash_hex(HashHex(p.leaf_hash));
  out.set_root_hex(HashHex(p.root));
  for (const auto& h : p.path) out.add_audit_path_hex(HashHex(h));
  if (auto note = ledger_.LatestCheckpoint()) out.set_checkpoint(*note);
  return out;
}

}  // namespace taogate::agent
