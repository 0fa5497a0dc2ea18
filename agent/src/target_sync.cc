// TargetSync (contract in target_sync.h): the governor's protected set and
// the static targets in the gate's maps, applied by diff.
#include "taogate/agent/target_sync.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_join.h"

#include "taogate/agent/node_addresses.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/dns/message.h"
#include "taogate/target/target_proto.h"

namespace taogate::agent {
namespace {

target::Target CatchAll(const char* cidr) {
  target::Target t;
  t.proto = target::Proto::kAny;  // every port, TCP and UDP
  t.prefix = *target::ParseCidr(cidr, target::CidrForm::kExact);
  return t;
}
const target::Target kCatchAll4 = CatchAll("0.0.0.0/0");
const target::Target kCatchAll6 = CatchAll("::/0");

// FILE/EXEC targets go to the FileExecSink, the rest to the gate.
bool ForSink(const target::Target& t) { return t.proto == target::Proto::kFile || t.proto == target::Proto::kExec; }


// Adds t, or its expansion over the node's addresses or over its name's
// current addresses (none yet: nothing), under its canonical text.
void AddExpanded(const target::Target& t, const std::vector<std::string>& addrs, const NameAddressMap& names,
                 std::map<std::string, target::Target>* out) {
  if (t.network() && t.host == target::Host::kNode) {
    for (auto& x : ExpandNodeTarget(t, addrs)) (*out)[target::Format(x)] = std::move(x);
    return;
  }
  if (t.network() && t.host == target::Host::kName) {
    auto it = names.find(t.name);
    if (it == names.end()) return;
    for (const target::Ip& ip : it->second) {
      target::Target x = AtAddress(t, ip);
      (*out)[target::Format(x)] = std::move(x);
    }
    return;
  }
  (*out)[target::Format(t)] = t;
}

// The DNS names a set protects, sorted and unique.
std::vector<std::string> NamesOf(const v1::ProtectedTargets& msg) {
  std::set<std::string> names;
  for (const auto& p : msg.targets())
    if (!p.host_name().empty()) names.insert(p.host_name());
  return {names.begin(), names.end()};
}

std::string JoinIps(const std::vector<target::Ip>& ips) {
  std::string out;
  for (const auto& ip : ips) out += (out.empty() ? "" : ",") + target::FormatIp(ip);
  return out;
}

}  // namespace

TargetSync::TargetSync(TargetTable& gate, ledger::Ledger& ledger, FileExecSink* sink, TargetSyncOptions options)
    : gate_(gate), ledger_(ledger), sink_(sink), options_(std::move(options)) {
  static_ = StaticOf(node_addrs_);
}

TargetSync::EntryMap TargetSync::StaticOf(const std::vector<std::string>& addrs) const {
  EntryMap out;
  for (const auto& spec : options_.static_targets) {
    auto t = target::Parse(spec, target::Form::kProtected);
    if (!t.ok()) continue;  // FinalizeConfig refused these already
    AddExpanded(*t, addrs, {}, &out);
  }
  return out;
}

TargetSync::EntryMap TargetSync::WantedOf(const v1::ProtectedTargets& msg,
                                          const std::vector<std::string>& addrs) const {
  EntryMap wanted;
  for (const auto& p : msg.targets()) {
    auto t = target::FromProto(p);
    if (!t.ok()) continue;  // ValidateProtectedTargets refused these already
    AddExpanded(*t, addrs, name_addrs_, &wanted);
  }
  return wanted;
}

// The keys only audited targets want (docs/audit-mode.md): a key that an
// enforced or static target also wants is enforced.
std::set<std::string> TargetSync::AuditedOf(const v1::ProtectedTargets& msg,
                                            const std::vector<std::string>& addrs) const {
  EntryMap audit, enforce;
  for (const auto& p : msg.targets()) {
    auto t = target::FromProto(p);
    if (t.ok()) AddExpanded(*t, addrs, name_addrs_, p.audit() ? &audit : &enforce);
  }
  std::set<std::string> out;
  for (const auto& [key, t] : audit)
    if (!enforce.count(key) && !static_.count(key)) out.insert(key);
  return out;
}

absl::Status TargetSync::AddLocked(const target::Target& t) {
  return audited_.count(target::Format(t)) ? gate_.AddAuditTarget(t) : gate_.AddTarget(t);
}

absl::Status TargetSync::Start() {
  std::lock_guard l(mu_);
  started_ = true;
  static_ = StaticOf(node_addrs_);
  if (options_.cache_path.empty()) return ReaddLocked(applied_);  // no governor: static targets only
  auto cached = LoadTargetsCache(options_.cache_path);
  if (cached.ok()) {
    // A previous run may have left the catch-all pinned: the first valid set lifts it.
    state_.fail_closed = true;
    // The names' last answers: protected at once, replaced by the first fresh ones.
    if (auto names = LoadNamesCache(options_.cache_path + ".names"); names.ok()) {
      name_addrs_ = std::move(*names);
      for (const auto& [name, addrs] : name_addrs_) seeded_.insert(name);
    } else if (!absl::IsNotFound(names.status())) {
      log::Warn("names cache unusable: names wait for their first answers",
                {{"error", std::string(names.status().message())}});
    }
    if (ApplyLocked(*cached, "cache").ok()) {
      log::Info("protected targets restored from cache",
                {{"path", options_.cache_path}, {"policy_sha256", state_.policy_sha256},
                 {"count", std::to_string(state_.targets)}});
      return absl::OkStatus();
    }
  } else if (cached.status().code() == absl::StatusCode::kNotFound) {
    log::Warn("no protected-target cache: failing closed until the governor sends a set",
              {{"path", options_.cache_path}});
  } else {
    state_.last_error = std::string(cached.status().message());
    log::Error("protected-target cache unusable: treated as no cache, failing closed",
               {{"path", options_.cache_path}, {"error", state_.last_error}});
    RecordLocked("cache_rejected", "", 0, state_.last_error);
  }
  return EngageFailClosedLocked();
}

absl::Status TargetSync::Apply(const v1::ProtectedTargets& msg) {
  std::lock_guard l(mu_);
  started_ = true;  // node targets expand over the addresses known now
  return ApplyLocked(msg, "governor");
}

TargetSyncState TargetSync::state() const {
  std::lock_guard l(mu_);
  return state_;
}

absl::Status TargetSync::ApplyLocked(const v1::ProtectedTargets& msg, const char* source) {
  const bool from_cache = std::strcmp(source, "cache") == 0;
  if (absl::Status st = ValidateProtectedTargets(msg); !st.ok()) return RejectLocked(msg, source, st);
  const std::vector<std::string> names = NamesOf(msg);
  if (!names.empty() && options_.names == nullptr) {
    // Dropping the names would leave their addresses unprotected: refused whole.
    ++state_.names_unresolved_total;
    return RejectLocked(msg, source,
                        absl::FailedPreconditionError(StrCat(
                            "the set names DNS host ", names.front(),
                            " and this agent resolves no names (dns.enabled false, or no DNS server); "
                            "the previous set stays")));
  }
  if (options_.pods != nullptr) {
    if (absl::Status st = options_.pods->Check(msg); !st.ok()) return RejectLocked(msg, source, st);
  }
  // The resolver watches exactly the names of the set in force: the new
  // ones now, back to the previous ones if the set is not applied.
  const std::vector<std::string> previous_names = applied_msg_ ? NamesOf(*applied_msg_) : std::vector<std::string>{};
  if (options_.names != nullptr && names != previous_names) {
    if (absl::Status st = options_.names->Watch(names); !st.ok()) return RejectLocked(msg, source, st);
  }
  auto unwatch_on_failure = [&] {
    if (options_.names != nullptr && names != previous_names) (void)options_.names->Watch(previous_names);
  };
  EntryMap wanted = WantedOf(msg, node_addrs_);
  if (!from_cache && IsResendLocked(msg, wanted)) {
    // A reconnect resends the set in force: make sure it is in the maps, but
    // write no record and no cache for a non-change. A failed re-add leaves
    // the maps as they were (entries are only added), so it is only retried
    // by the next update.
    (void)ReaddLocked(applied_);
    return absl::OkStatus();
  }
  // Persist first: after a crash anywhere below, the restarted agent applies
  // the set the kernel was being moved to (restored on rollback).
  const std::string persist_error = from_cache ? "" : PersistLocked(msg);
  // A key whose only change is its mode is switched in place by the re-add
  // below (one map update each), never removed and added again.
  std::set<std::string> prev_audited = std::exchange(audited_, AuditedOf(msg, node_addrs_));
  Additions a = AddWantedLocked(wanted);
  if (!a.error.ok()) {
    audited_ = std::move(prev_audited);
    RollBackLocked(a, /*restore_cache=*/!from_cache && persist_error.empty());
    unwatch_on_failure();
    return RejectLocked(msg, source, a.error);
  }
  uint64_t removed = RemoveUnwantedLocked(wanted);
  applied_ = std::move(wanted);
  // Removing a key may have removed a map entry another target shares. A
  // failure here leaves a wanted entry out, which ReaddLocked retries on the
  // next update; nothing that should be allowed is allowed by it.
  (void)ReaddLocked(applied_);
  CommitLocked(msg, source, a, removed, persist_error);
  MaybeLiftLocked();
  if (options_.pods != nullptr) options_.pods->Applied(msg);
  if (options_.audit != nullptr) options_.audit->Applied(msg);
  return absl::OkStatus();
}

absl::Status TargetSync::RejectLocked(const v1::ProtectedTargets& msg, const char* source, const absl::Status& st) {
  ++state_.rejected_total;
  state_.last_error = std::string(st.message());
  log::Error("protected-target update rejected; previous set stays", {{"source", source}, {"error", state_.last_error}});
  const std::string& sha = msg.policy_sha256();
  bool sha_ok = sha.size() == 64 && sha.find_first_not_of("0123456789abcdef") == std::string::npos;
  RecordLocked(std::strcmp(source, "cache") == 0 ? "cache_rejected" : "rejected", sha_ok ? sha : "",
               msg.targets_size(), state_.last_error);
  return st;
}

bool TargetSync::IsResendLocked(const v1::ProtectedTargets& msg, const EntryMap& wanted) const {
  if (!state_.have_bundle || state_.fail_closed || msg.policy_sha256() != state_.policy_sha256) return false;
  if (wanted.size() != applied_.size()) return false;
  for (auto a = wanted.begin(), b = applied_.begin(); a != wanted.end(); ++a, ++b)
    if (a->first != b->first) return false;
  return true;
}

std::string TargetSync::PersistLocked(const v1::ProtectedTargets& msg) {
  absl::Status st = SaveTargetsCache(options_.cache_path, msg);
  if (st.ok()) return "";
  log::Error("protected targets not cached (applied anyway)", {{"error", std::string(st.message())}});
  return std::string(st.message());
}

// Add first (a transient superset only denies more); stops at the first
// gate error, which the caller rolls back.
TargetSync::Additions TargetSync::AddWantedLocked(const EntryMap& wanted) {
  Additions a;
  a.absent_before = absent_;
  for (const auto& [key, t] : wanted) {
    const bool fs = ForSink(t);
    if (fs && !sink_) {
      ++a.not_enforced;
      if (!applied_.count(key))
        log::Warn("FILE/EXEC target not enforced (no enforcement sink on this agent)", {{"path", t.path}});
      continue;
    }
    if (applied_.count(key) && !absent_.count(key)) continue;
    absl::Status st = fs ? sink_->Protect(target::ToProtoKind(t.proto), t.path) : AddLocked(t);
    if (fs && !st.ok()) {
      // No inode to protect here (the path does not exist on this node, an
      // EXEC target is a directory) or no file enforcement on this node:
      // counted as not enforced and retried on every update, never a reason
      // to refuse the network part of the bundle (protect the directory to
      // cover files created later).
      ++a.not_enforced;
      if (absent_.insert(key).second)
        log::Warn("FILE/EXEC target not enforced on this node", {{"path", t.path}, {"error", std::string(st.message())}});
      continue;
    }
    if (fs) absent_.erase(key);
    if (!st.ok()) {
      a.error = absl::UnavailableError(StrCat("cannot protect ", key, ": ", st.message()));
      a.added.push_back(&t);  // a port range may be in part: rolled back with the others
      break;
    }
    a.added.push_back(&t);
  }
  return a;
}

// Undoes AddWantedLocked's additions and restores the previous cache. The
// discarded Statuses below are safe: a target left in the maps only denies
// more (the fail-closed direction), and ReaddLocked puts back any shared
// entry of the previous set that a removal took out.
void TargetSync::RollBackLocked(const Additions& a, bool restore_cache) {
  for (const target::Target* t : a.added) {
    if (ForSink(*t)) (void)sink_->Unprotect(target::ToProtoKind(t->proto), t->path);
    else if (!static_.count(target::Format(*t))) (void)gate_.RemoveTarget(*t);
  }
  (void)ReaddLocked(applied_);
  absent_ = a.absent_before;
  if (!restore_cache) return;
  if (applied_msg_) {
    // A failed restore leaves the newer set cached: a restart applies it or,
    // if it fails again, fails closed.
    (void)SaveTargetsCache(options_.cache_path, *applied_msg_);
  } else {
    unlink(options_.cache_path.c_str());  // nothing was applied: a restart fails closed
  }
}

uint64_t TargetSync::RemoveUnwantedLocked(const EntryMap& wanted) {
  uint64_t removed = 0;
  for (const auto& [key, t] : applied_) {
    if (wanted.count(key) || static_.count(key)) continue;
    absent_.erase(key);
    absl::Status st;
    if (!ForSink(t)) st = gate_.RemoveTarget(t);
    else if (sink_) st = sink_->Unprotect(target::ToProtoKind(t.proto), t.path);
    if (!st.ok())
      log::Warn("cannot unprotect a removed target (it stays protected)", {{"target", key}, {"error", std::string(st.message())}});
    ++removed;
  }
  return removed;
}

void TargetSync::CommitLocked(const v1::ProtectedTargets& msg, const char* source, const Additions& a,
                              uint64_t removed, const std::string& persist_error) {
  const bool from_cache = std::strcmp(source, "cache") == 0;
  applied_msg_ = msg;
  state_.have_bundle = true;
  state_.policy_sha256 = msg.policy_sha256();
  state_.targets = applied_.size();
  state_.not_enforced = a.not_enforced;
  state_.names = NamesOf(msg).size();
  ++state_.applied_total;
  state_.last_error = persist_error;
  const std::string count = std::to_string(applied_.size()), added = std::to_string(a.added.size()),
                    gone = std::to_string(removed), not_enforced = std::to_string(a.not_enforced);
  log::Info("protected targets applied", {{"source", source}, {"policy_sha256", msg.policy_sha256()},
                                          {"count", count}, {"added", added}, {"removed", gone},
                                          {"not_enforced", not_enforced}});
  ledger::Fields f = {{"component", "agent"}, {"event", from_cache ? "cache_applied" : "applied"},
                      {"node_id", options_.node_id}, {"policy_sha256", msg.policy_sha256()},
                      {"count", count}, {"added", added}, {"removed", gone}, {"not_enforced", not_enforced}};
  if (!persist_error.empty()) f.push_back({"error", persist_error.substr(0, 200)});
  if (auto seq = ledger_.Append(ledger::RecordKind::kPolicyActivated, std::move(f)); !seq.ok())
    log::Error("ledger refused POLICY_ACTIVATED", {{"error", std::string(seq.status().message())}});
}

absl::Status TargetSync::MoveToLocked(EntryMap next_applied, EntryMap next_static,
                                      std::set<std::string> next_audited, size_t* added_count,
                                      size_t* removed_count) {
  std::set<std::string> prev_audited = std::exchange(audited_, std::move(next_audited));
  auto had = [&](const std::string& k) { return applied_.count(k) || static_.count(k); };
  auto wants = [&](const std::string& k) { return next_applied.count(k) || next_static.count(k); };
  // Additions first (a transient superset only denies more); on a failure
  // they are rolled back and the previous set stays.
  std::vector<const target::Target*> added;
  absl::Status add_error;
  for (const EntryMap* m : {&next_applied, &next_static}) {
    for (const auto& [key, e] : *m) {
      if (ForSink(e) || had(key) || !add_error.ok()) continue;
      if (absl::Status st = AddLocked(e); !st.ok())
        add_error = absl::UnavailableError(StrCat("cannot protect ", key, ": ", st.message()));
      added.push_back(&e);  // a port range may be in part: rolled back with the others
    }
  }
  if (!add_error.ok()) {
    // Safe to discard: a target left behind only denies more, and the
    // re-add below restores any shared entry of the previous set.
    for (const target::Target* e : added) (void)gate_.RemoveTarget(*e);
    audited_ = std::move(prev_audited);
    (void)ReaddLocked(applied_);
    return add_error;
  }
  size_t removed = 0;
  for (const EntryMap* m : {&applied_, &static_}) {
    for (const auto& [key, e] : *m) {
      if (ForSink(e) || wants(key)) continue;
      if (absl::Status st = gate_.RemoveTarget(e); !st.ok())
        log::Warn("cannot unprotect a gone address (it stays protected)",
                  {{"target", key}, {"error", std::string(st.message())}});
      ++removed;
    }
  }
  applied_ = std::move(next_applied);
  static_ = std::move(next_static);
  (void)ReaddLocked(applied_);  // a removed key may have been shared
  state_.targets = applied_.size();
  *added_count = added.size();
  *removed_count = removed;
  return absl::OkStatus();
}

absl::Status TargetSync::SetNodeAddresses(const std::vector<std::string>& addrs_in) {
  std::lock_guard l(mu_);
  std::vector<std::string> addrs = CanonicalAddresses(addrs_in);
  if (!started_) {
    static_ = StaticOf(addrs);  // written to the gate by the first Start/Apply
    node_addrs_ = std::move(addrs);
    state_.node_addresses = node_addrs_.size();
    return absl::OkStatus();
  }
  if (addrs == node_addrs_) return absl::OkStatus();
  const size_t before = node_addrs_.size();
  EntryMap next_applied = applied_msg_ ? WantedOf(*applied_msg_, addrs) : applied_;
  std::set<std::string> next_audited = applied_msg_ ? AuditedOf(*applied_msg_, addrs) : audited_;
  size_t added = 0, removed = 0;
  if (absl::Status st = MoveToLocked(std::move(next_applied), StaticOf(addrs), std::move(next_audited), &added,
                                     &removed);
      !st.ok()) {
    ++state_.node_address_failures_total;
    state_.last_error = std::string(st.message());
    log::Error("node address change not applied; previous protected set stays",
               {{"addresses", std::to_string(addrs.size())}, {"error", state_.last_error}});
    RecordLocked("node_addresses_rejected", "", addrs.size(), state_.last_error);
    return st;
  }
  node_addrs_ = std::move(addrs);
  state_.node_addresses = node_addrs_.size();
  ++state_.node_address_changes_total;
  log::Info("node addresses changed; node targets re-expanded",
            {{"addresses_before", std::to_string(before)},
             {"addresses", std::to_string(node_addrs_.size())},
             {"added", std::to_string(added)},
             {"removed", std::to_string(removed)}});
  if (added == 0 && removed == 0) return absl::OkStatus();  // no node target: nothing to record
  ledger::Fields f = {{"component", "agent"}, {"event", "node_addresses"}, {"node_id", options_.node_id},
                      {"count", std::to_string(node_addrs_.size())},
                      {"added", std::to_string(added)}, {"removed", std::to_string(removed)}};
  if (auto seq = ledger_.Append(ledger::RecordKind::kPolicyActivated, std::move(f)); !seq.ok())
    log::Error("ledger refused POLICY_ACTIVATED", {{"error", std::string(seq.status().message())}});
  return absl::OkStatus();
}

absl::Status TargetSync::SetNameAddresses(const std::string& name, const std::vector<target::Ip>& added,
                                          const std::vector<target::Ip>& removed, bool unwatched,
                                          uint32_t ttl_s, const std::vector<std::string>& chain) {
  std::lock_guard l(mu_);
  // The resolver's truth, kept even if the gate refuses it below: the next
  // change or set is computed from it, so a refused addition is retried.
  const auto found = name_addrs_.find(name);
  const std::vector<target::Ip> old = found == name_addrs_.end() ? std::vector<target::Ip>{} : found->second;
  // A name seeded from the names cache gets its first answer since the
  // start: that answer is its whole set (the resolver started empty).
  const bool first_since_start = seeded_.erase(name) > 0;
  std::vector<target::Ip> addrs;
  if (!unwatched) {
    if (!first_since_start)
      for (const auto& ip : old)
        if (std::find(removed.begin(), removed.end(), ip) == removed.end()) addrs.push_back(ip);
    for (const auto& ip : added)
      if (std::find(addrs.begin(), addrs.end(), ip) == addrs.end()) addrs.push_back(ip);
    std::sort(addrs.begin(), addrs.end(), dns::IpLess);
  }
  if (addrs == old) return absl::OkStatus();
  if (addrs.empty()) name_addrs_.erase(name);
  else name_addrs_[name] = addrs;
  // What really changed (for the record): the old set against the new.
  std::vector<target::Ip> gained, lost;
  for (const auto& ip : addrs)
    if (std::find(old.begin(), old.end(), ip) == old.end()) gained.push_back(ip);
  for (const auto& ip : old)
    if (std::find(addrs.begin(), addrs.end(), ip) == addrs.end()) lost.push_back(ip);
  if (!applied_msg_) return absl::OkStatus();  // nothing names it yet
  size_t n_added = 0, n_removed = 0;
  absl::Status st = MoveToLocked(WantedOf(*applied_msg_, node_addrs_), static_, AuditedOf(*applied_msg_, node_addrs_),
                                 &n_added, &n_removed);
  if (!st.ok()) {
    ++state_.name_change_failures_total;
    state_.last_error = std::string(st.message());
    log::Error("DNS address change of a protected name not applied; previous protected set stays",
               {{"name", name}, {"error", state_.last_error}});
  } else {
    ++state_.name_changes_total;
    log::Info("protected name's addresses changed",
              {{"name", name}, {"added", JoinIps(gained)}, {"removed", JoinIps(lost)},
               {"addresses", JoinIps(addrs)}, {"ttl_s", std::to_string(ttl_s)}});
    if (!options_.cache_path.empty()) {
      if (absl::Status c = SaveNamesCache(options_.cache_path + ".names", name_addrs_); !c.ok())
        log::Warn("names cache not written (a restart re-resolves)", {{"error", std::string(c.message())}});
    }
  }
  const std::string joined_chain = absl::StrJoin(chain, ",");
  ledger::Fields f = {{"component", "agent"},
                      {"event", st.ok() ? "name_addresses" : "name_addresses_rejected"},
                      {"node_id", options_.node_id}, {"target", name},
                      {"count", std::to_string(addrs.size())},
                      {"added", JoinIps(gained).substr(0, 1000)}, {"removed", JoinIps(lost).substr(0, 1000)},
                      {"ttl_s", std::to_string(ttl_s)}};
  if (!joined_chain.empty()) f.push_back({"chain", joined_chain.substr(0, 1000)});
  if (unwatched) f.push_back({"reason", "unwatched"});
  if (!st.ok()) f.push_back({"error", state_.last_error.substr(0, 200)});
  if (auto seq = ledger_.Append(ledger::RecordKind::kPolicyActivated, std::move(f)); !seq.ok())
    log::Error("ledger refused POLICY_ACTIVATED", {{"error", std::string(seq.status().message())}});
  MaybeLiftLocked();
  return st;
}

std::vector<target::Ip> TargetSync::NameAddresses(const std::string& name) const {
  std::lock_guard l(mu_);
  if (!applied_msg_) return {};
  auto it = name_addrs_.find(name);
  if (it == name_addrs_.end()) return {};
  // Only what the gate holds: every address of the name is a key of applied_
  // unless its last move failed (then the name's grant waits for the retry).
  bool named = false;
  for (const auto& p : applied_msg_->targets()) {
    if (p.host_name() != name) continue;
    auto t = target::FromProto(p);
    if (!t.ok()) continue;
    named = true;
    for (const auto& ip : it->second)
      if (!applied_.count(target::Format(AtAddress(*t, ip)))) return {};
  }
  return named ? it->second : std::vector<target::Ip>{};
}

std::set<std::string> TargetSync::TargetIdsAt(const target::Target& dest) const {
  std::lock_guard l(mu_);
  std::set<std::string> ids;
  if (!applied_msg_) return ids;
  for (const auto& p : applied_msg_->targets()) {
    auto t = target::FromProto(p);
    if (!t.ok() || ids.count(p.name())) continue;
    EntryMap one;
    AddExpanded(*t, node_addrs_, name_addrs_, &one);
    for (const auto& [key, e] : one)
      if (target::Covers(e, dest)) ids.insert(p.name());
  }
  return ids;
}

std::vector<v1::HoldRule> TargetSync::HoldRules() const {
  std::lock_guard l(mu_);
  if (!applied_msg_) return {};
  return {applied_msg_->hold().begin(), applied_msg_->hold().end()};
}

std::vector<NameView> TargetSync::Names() const {
  std::lock_guard l(mu_);
  std::vector<NameView> out;
  if (!applied_msg_) return out;
  // Which names and targets want each map key: a key wanted by more than
  // one is shared (docs/names.md, "Shared addresses").
  std::map<std::string, std::set<std::string>> owners;  // key -> names / target texts
  for (const auto& p : applied_msg_->targets()) {
    auto t = target::FromProto(p);
    if (!t.ok()) continue;
    EntryMap one;
    AddExpanded(*t, node_addrs_, name_addrs_, &one);
    const std::string who = t->host == target::Host::kName ? t->name : target::Format(*t);
    for (const auto& [key, e] : one) owners[key].insert(who);
  }
  for (const auto& [key, e] : static_) owners[key].insert(key);
  for (const auto& name : NamesOf(*applied_msg_)) {
    NameView v;
    v.name = name;
    if (auto it = name_addrs_.find(name); it != name_addrs_.end()) v.addrs = it->second;
    std::set<std::string> shared;
    for (const auto& [key, who] : owners) {
      if (!who.count(name)) continue;
      for (const auto& w : who)
        if (w != name) shared.insert(w);
    }
    v.shared_with.assign(shared.begin(), shared.end());
    out.push_back(std::move(v));
  }
  return out;
}

// The catch-all goes once a set is applied and every name it protects has
// an address (until then those addresses are unknown: everything is denied).
void TargetSync::MaybeLiftLocked() {
  uint64_t pending = 0;
  if (applied_msg_)
    for (const auto& name : NamesOf(*applied_msg_))
      if (!name_addrs_.count(name)) ++pending;
  state_.names_pending = pending;
  if (!state_.fail_closed || !applied_msg_ || pending != 0) return;
  if (absl::Status st = LiftFailClosedLocked(); !st.ok())
    log::Error("cannot lift the fail-closed catch-all (stays denying)", {{"error", std::string(st.message())}});
}

std::vector<std::string> TargetSync::AuditedTargetSpecs() const {
  std::lock_guard l(mu_);
  std::vector<std::string> out;
  if (!applied_msg_) return out;
  for (const auto& p : applied_msg_->targets()) {
    auto t = target::FromProto(p);
    if (p.audit() && t.ok()) out.push_back(target::Format(*t));
  }
  return out;
}

std::vector<std::string> TargetSync::NetworkTargetSpecs() const {
  std::lock_guard l(mu_);
  std::vector<std::string> out;
  for (const auto& spec : options_.static_targets)
    if (!spec.starts_with("unix:")) out.push_back(spec);
  if (!applied_msg_) return out;
  for (const auto& p : applied_msg_->targets()) {
    auto t = target::FromProto(p);
    if (t.ok() && t->network()) out.push_back(target::Format(*t));
  }
  return out;
}

// In deny-all mode every destination without a grant is denied already:
// the catch-all is only needed (and only written) in protect-listed mode.
bool TargetSync::CatchAllWantedLocked() const {
  return state_.fail_closed && gate_.ProtectsListedOnly();
}

absl::Status TargetSync::EngageFailClosedLocked() {
  state_.fail_closed = true;
  if (CatchAllWantedLocked()) {
    TG_RETURN_IF_ERROR(gate_.AddTarget(kCatchAll4));
    TG_RETURN_IF_ERROR(gate_.AddTarget(kCatchAll6));
  }
  log::Warn("fail closed: every IP destination of governed workloads needs a grant until the "
            "governor's first protected-target set is applied");
  RecordLocked("fail_closed", "", 0, state_.last_error);
  return absl::OkStatus();
}

absl::Status TargetSync::LiftFailClosedLocked() {
  TG_RETURN_IF_ERROR(gate_.RemoveTarget(kCatchAll4));
  TG_RETURN_IF_ERROR(gate_.RemoveTarget(kCatchAll6));
  state_.fail_closed = false;
  // The catch-all's keys may coincide with wanted targets: put those back.
  return ReaddLocked(applied_);
}

absl::Status TargetSync::ReaddLocked(const EntryMap& wanted) {
  absl::Status first;
  auto add = [&](const target::Target& e) {
    if (ForSink(e)) return;
    if (absl::Status st = AddLocked(e); !st.ok() && first.ok()) first = st;
  };
  // Audited keys first: where an enforced target shares a kernel entry
  // with an audited one (overlapping ranges), enforce is written last.
  for (const auto& [k, e] : wanted)
    if (audited_.count(k)) add(e);
  for (const auto& [k, e] : wanted)
    if (!audited_.count(k)) add(e);
  for (const auto& [k, e] : static_) add(e);
  if (CatchAllWantedLocked()) {
    if (absl::Status st = gate_.AddTarget(kCatchAll4); !st.ok() && first.ok()) first = st;
    if (absl::Status st = gate_.AddTarget(kCatchAll6); !st.ok() && first.ok()) first = st;
  }
  return first;
}

void TargetSync::RecordLocked(std::string event, const std::string& sha, uint64_t count,
                              const std::string& error) {
  ledger::Fields f = {{"component", "agent"}, {"event", std::move(event)}, {"node_id", options_.node_id},
                      {"count", std::to_string(count)}};
  if (!sha.empty()) f.push_back({"policy_sha256", sha});
  if (!error.empty()) {
    std::string e;
    for (char c : error.substr(0, 200)) e.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
    f.push_back({"error", e});
  }
  if (auto seq = ledger_.Append(ledger::RecordKind::kPolicyActivated, std::move(f)); !seq.ok())
    log::Error("ledger refused POLICY_ACTIVATED", {{"error", std::string(seq.status().message())}});
}

}  // namespace taogate::agent
