#include "taogate/agent/target_sync.h"

#include <unistd.h>

#include <cstring>

#include "taogate/agent/node_addresses.h"
#include "taogate/common/log.h"
#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {

bpf::Target CatchAll(const char* cidr) {
  bpf::Target t;
  t.cidr = cidr;
  t.proto = bpf::Proto::kAny;  // every port, TCP and UDP
  return t;
}
const bpf::Target kCatchAll4 = CatchAll("0.0.0.0/0");
const bpf::Target kCatchAll6 = CatchAll("::/0");

const char* ProtoName(bpf::Proto p) { return p == bpf::Proto::kTcp ? "tcp" : p == bpf::Proto::kUdp ? "udp" : "any"; }

std::string KeyOf(const bpf::Target& t) {
  if (!t.unix_path.empty()) return "unix|" + t.unix_path;
  return StrCat(ProtoName(t.proto), "|", t.cidr, "|", t.port_lo, "|", t.port_hi);
}

}  // namespace

TargetSync::TargetSync(bpf::Gate& gate, ledger::Ledger& ledger, FileExecSink* sink, TargetSyncOptions options)
    : gate_(gate), ledger_(ledger), sink_(sink), options_(std::move(options)) {
  static_ = StaticOf(node_addrs_);
}

TargetSync::EntryMap TargetSync::StaticOf(const std::vector<std::string>& addrs) const {
  EntryMap out;
  auto add = [&](bpf::Target t) {
    if (t.unix_path.empty()) {
      if (auto c = CanonicalCidr(t.cidr); c.ok()) t.cidr = *c;
    }
    Entry e;
    e.target = t;
    out[KeyOf(t)] = e;
  };
  for (const auto& spec : options_.static_targets) {
    if (IsNodeTargetSpec(spec)) {
      auto n = ParseNodeTarget(spec);
      if (!n.ok()) continue;  // FinalizeConfig refused these already
      for (auto& t : ExpandNodeTarget(*n, addrs)) add(std::move(t));
      continue;
    }
    auto t = bpf::ParseTarget(spec);
    if (!t.ok()) continue;  // FinalizeConfig refused these already
    add(*t);
  }
  return out;
}

TargetSync::EntryMap TargetSync::WantedOf(const v1::ProtectedTargets& msg,
                                          const std::vector<std::string>& addrs) const {
  EntryMap wanted;
  for (const auto& t : msg.targets()) {
    Entry e;
    e.proto = t.proto();
    if (t.proto() == v1::TARGET_PROTO_TCP || t.proto() == v1::TARGET_PROTO_UDP) {
      bool any = (t.port_from() == 0 && t.port_to() == 0) || (t.port_from() <= 1 && t.port_to() == 65535);
      e.target.port_lo = any ? 0 : static_cast<uint16_t>(t.port_from());
      e.target.port_hi = any ? 0 : static_cast<uint16_t>(t.port_to());
      e.target.proto = t.proto() == v1::TARGET_PROTO_TCP ? bpf::Proto::kTcp : bpf::Proto::kUdp;
      if (t.cidr() == kNodeKeyword) {
        for (auto& x : ExpandNodeTarget(e.target, addrs)) {
          Entry n = e;
          n.target = std::move(x);
          n.target.cidr = *CanonicalCidr(n.target.cidr);
          wanted[KeyOf(n.target)] = n;
        }
        continue;
      }
      e.target.cidr = *CanonicalCidr(t.cidr());
      wanted[KeyOf(e.target)] = e;
    } else if (t.proto() == v1::TARGET_PROTO_UNIX) {
      e.target.unix_path = t.path();
      wanted[KeyOf(e.target)] = e;
    } else {
      e.path = t.path();
      wanted[StrCat(t.proto() == v1::TARGET_PROTO_FILE ? "file|" : "exec|", t.path())] = e;
    }
  }
  return wanted;
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
  auto reject = [&](const absl::Status& st) {
    ++state_.rejected_total;
    state_.last_error = std::string(st.message());
    log::Error("protected-target update rejected; previous set stays",
               {{"source", source}, {"error", state_.last_error}});
    const std::string& sha = msg.policy_sha256();
    bool sha_ok = sha.size() == 64 && sha.find_first_not_of("0123456789abcdef") == std::string::npos;
    RecordLocked(from_cache ? "cache_rejected" : "rejected", sha_ok ? sha : "", msg.targets_size(),
                 state_.last_error);
    return st;
  };
  if (absl::Status st = ValidateProtectedTargets(msg); !st.ok()) return reject(st);

  EntryMap wanted = WantedOf(msg, node_addrs_);

  // A reconnect resends the set in force: make sure it is in the maps, but
  // write no record and no cache for a non-change.
  if (!from_cache && state_.have_bundle && !state_.fail_closed && msg.policy_sha256() == state_.policy_sha256) {
    bool same = wanted.size() == applied_.size();
    for (auto a = wanted.begin(), b = applied_.begin(); same && a != wanted.end(); ++a, ++b) same = a->first == b->first;
    if (same) {
      (void)ReaddLocked(applied_);
      return absl::OkStatus();
    }
  }

  // Persist first: after a crash anywhere below, the restarted agent applies
  // the set the kernel was being moved to (restored on rollback).
  std::string persist_error;
  if (!from_cache) {
    if (absl::Status st = SaveTargetsCache(options_.cache_path, msg); !st.ok()) {
      persist_error = std::string(st.message());
      log::Error("protected targets not cached (applied anyway)", {{"error", persist_error}});
    }
  }

  // Add first (a transient superset only denies more), rolling back on error.
  std::vector<const Entry*> added;
  uint64_t not_enforced = 0;
  absl::Status add_error;
  const std::set<std::string> absent_before = absent_;  // restored on rollback
  for (const auto& [key, e] : wanted) {
    bool fs = e.path.size() > 0;
    if (fs && !sink_) {
      ++not_enforced;
      if (!applied_.count(key))
        log::Warn("FILE/EXEC target not enforced (no enforcement sink on this agent)", {{"path", e.path}});
      continue;
    }
    if (applied_.count(key) && !absent_.count(key)) continue;
    absl::Status st = fs ? sink_->Protect(e.proto, e.path) : gate_.AddTarget(e.target);
    if (fs && !st.ok()) {
      // No inode to protect here (the path does not exist on this node, an
      // EXEC target is a directory) or no file enforcement on this node:
      // counted as not enforced and retried on every update, never a reason
      // to refuse the network part of the bundle (protect the directory to
      // cover files created later).
      ++not_enforced;
      if (absent_.insert(key).second)
        log::Warn("FILE/EXEC target not enforced on this node",
                  {{"path", e.path}, {"error", std::string(st.message())}});
      continue;
    }
    if (fs) absent_.erase(key);
    if (!st.ok()) {
      add_error = absl::UnavailableError(StrCat("cannot protect ", key, ": ", st.message()));
      if (!fs) added.push_back(&e);  // a port range may be in part: rolled back with the others
      break;
    }
    added.push_back(&e);
  }
  if (!add_error.ok()) {
    for (const Entry* e : added) {
      if (!e->path.empty()) (void)sink_->Unprotect(e->proto, e->path);
      else if (!static_.count(KeyOf(e->target))) (void)gate_.RemoveTarget(e->target);
    }
    (void)ReaddLocked(applied_);
    absent_ = absent_before;
    if (!from_cache && persist_error.empty()) {
      if (applied_msg_) {
        (void)SaveTargetsCache(options_.cache_path, *applied_msg_);
      } else {
        unlink(options_.cache_path.c_str());  // nothing was applied: a restart fails closed
      }
    }
    return reject(add_error);
  }
  uint64_t removed = 0;
  for (const auto& [key, e] : applied_) {
    if (wanted.count(key) || static_.count(key)) continue;
    absent_.erase(key);
    absl::Status st;
    if (!e.path.empty()) {
      if (sink_) st = sink_->Unprotect(e.proto, e.path);
    } else {
      st = gate_.RemoveTarget(e.target);
    }
    if (!st.ok()) log::Warn("cannot unprotect a removed target (it stays protected)", {{"target", key}, {"error", std::string(st.message())}});
    ++removed;
  }
  applied_ = std::move(wanted);
  // Removing a key may have removed a map entry another target shares.
  (void)ReaddLocked(applied_);
  if (state_.fail_closed) {
    if (absl::Status st = LiftFailClosedLocked(); !st.ok())
      log::Error("cannot lift the fail-closed catch-all (stays denying)", {{"error", std::string(st.message())}});
  }

  applied_msg_ = msg;
  state_.have_bundle = true;
  state_.policy_sha256 = msg.policy_sha256();
  state_.targets = applied_.size();
  state_.not_enforced = not_enforced;
  ++state_.applied_total;
  state_.last_error = persist_error;
  log::Info("protected targets applied", {{"source", source}, {"policy_sha256", msg.policy_sha256()},
                                          {"count", std::to_string(applied_.size())},
                                          {"added", std::to_string(added.size())},
                                          {"removed", std::to_string(removed)},
                                          {"not_enforced", std::to_string(not_enforced)}});
  ledger::Fields f = {{"component", "agent"},
                      {"event", from_cache ? "cache_applied" : "applied"},
                      {"node_id", options_.node_id},
                      {"policy_sha256", msg.policy_sha256()},
                      {"count", std::to_string(applied_.size())},
                      {"added", std::to_string(added.size())},
                      {"removed", std::to_string(removed)},
                      {"not_enforced", std::to_string(not_enforced)}};
  if (!persist_error.empty()) f.push_back({"error", persist_error.substr(0, 200)});
  if (auto seq = ledger_.Append(ledger::RecordKind::kPolicyActivated, std::move(f)); !seq.ok())
    log::Error("ledger refused POLICY_ACTIVATED", {{"error", std::string(seq.status().message())}});
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
  EntryMap new_static = StaticOf(addrs);
  EntryMap new_applied = applied_msg_ ? WantedOf(*applied_msg_, addrs) : applied_;
  auto had = [&](const std::string& k) { return applied_.count(k) || static_.count(k); };
  auto wants = [&](const std::string& k) { return new_applied.count(k) || new_static.count(k); };

  // Additions first (a transient superset only denies more); on a failure
  // they are rolled back and the previous set stays.
  std::vector<const Entry*> added;
  absl::Status add_error;
  for (const EntryMap* m : {&new_applied, &new_static}) {
    for (const auto& [key, e] : *m) {
      if (!e.path.empty() || had(key) || !add_error.ok()) continue;
      if (absl::Status st = gate_.AddTarget(e.target); !st.ok()) {
        add_error = absl::UnavailableError(StrCat("cannot protect ", key, ": ", st.message()));
        added.push_back(&e);  // a port range may be in part: rolled back with the others
        continue;
      }
      added.push_back(&e);
    }
  }
  if (!add_error.ok()) {
    for (const Entry* e : added) (void)gate_.RemoveTarget(e->target);
    (void)ReaddLocked(applied_);
    ++state_.node_address_failures_total;
    state_.last_error = std::string(add_error.message());
    log::Error("node address change not applied; previous protected set stays",
               {{"addresses", std::to_string(addrs.size())}, {"error", state_.last_error}});
    RecordLocked("node_addresses_rejected", "", addrs.size(), state_.last_error);
    return add_error;
  }
  uint64_t removed = 0;
  for (const EntryMap* m : {&applied_, &static_}) {
    for (const auto& [key, e] : *m) {
      if (!e.path.empty() || wants(key)) continue;
      if (absl::Status st = gate_.RemoveTarget(e.target); !st.ok())
        log::Warn("cannot unprotect a gone node address (it stays protected)",
                  {{"target", key}, {"error", std::string(st.message())}});
      ++removed;
    }
  }
  applied_ = std::move(new_applied);
  static_ = std::move(new_static);
  node_addrs_ = std::move(addrs);
  (void)ReaddLocked(applied_);  // a removed key may have been shared
  state_.targets = applied_.size();
  state_.node_addresses = node_addrs_.size();
  ++state_.node_address_changes_total;
  log::Info("node addresses changed; node targets re-expanded",
            {{"addresses_before", std::to_string(before)},
             {"addresses", std::to_string(node_addrs_.size())},
             {"added", std::to_string(added.size())},
             {"removed", std::to_string(removed)}});
  if (added.empty() && removed == 0) return absl::OkStatus();  // no node target: nothing to record
  ledger::Fields f = {{"component", "agent"}, {"event", "node_addresses"}, {"node_id", options_.node_id},
                      {"count", std::to_string(node_addrs_.size())},
                      {"added", std::to_string(added.size())}, {"removed", std::to_string(removed)}};
  if (auto seq = ledger_.Append(ledger::RecordKind::kPolicyActivated, std::move(f)); !seq.ok())
    log::Error("ledger refused POLICY_ACTIVATED", {{"error", std::string(seq.status().message())}});
  return absl::OkStatus();
}

std::vector<std::string> TargetSync::NetworkTargetSpecs() const {
  std::lock_guard l(mu_);
  std::vector<std::string> out;
  for (const auto& spec : options_.static_targets)
    if (!spec.starts_with("unix:")) out.push_back(spec);
  if (!applied_msg_) return out;
  for (const auto& t : applied_msg_->targets()) {
    if (t.proto() != v1::TARGET_PROTO_TCP && t.proto() != v1::TARGET_PROTO_UDP) continue;
    std::string addr = t.cidr().find(':') != std::string::npos ? StrCat("[", t.cidr(), "]") : t.cidr();
    bool any = (t.port_from() == 0 && t.port_to() == 0) || (t.port_from() <= 1 && t.port_to() == 65535);
    std::string ports = any ? "*" : StrCat(t.port_from(), "-", t.port_to());
    out.push_back(StrCat(t.proto() == v1::TARGET_PROTO_TCP ? "tcp:" : "udp:", addr, ":", ports));
  }
  return out;
}

// In deny-all mode every destination without a grant is denied already:
// the catch-all is only needed (and only written) in protect-listed mode.
bool TargetSync::CatchAllWantedLocked() const {
  return state_.fail_closed && gate_.options().mode == bpf::Mode::kProtectListed;
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
  auto add = [&](const Entry& e) {
    if (!e.path.empty()) return;
    if (absl::Status st = gate_.AddTarget(e.target); !st.ok() && first.ok()) first = st;
  };
  for (const auto& [k, e] : wanted) add(e);
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
