#include "taogate/common/clock.h"
#include "taogate/agent/event_consumer.h"

#include <sys/socket.h>
#include <time.h>

#include <chrono>
#include <cstring>

#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {
// Wall-clock ms of a kernel event stamped with CLOCK_MONOTONIC ns
// (bpf_ktime_get_ns): now minus the event's age.
int64_t EventWallMs(uint64_t mono_ns) {
  const int64_t now_mono_ns = RealClock().MonoNs();
  int64_t age_ms = (now_mono_ns - static_cast<int64_t>(mono_ns)) / 1'000'000;
  if (mono_ns == 0 || age_ms < 0) age_ms = 0;
  return RealClock().WallMs() - age_ms;
}
}  // namespace

size_t EventConsumer::IdHash::operator()(const TaoId& id) const {
  size_t h;
  std::memcpy(&h, id.data(), sizeof(h));
  return h;
}

EventConsumer::EventConsumer(DecisionSource& gate, Evidence& evidence, Metrics& metrics,
                             EventConsumerOptions options)
    : gate_(gate), evidence_(evidence), metrics_(metrics), options_(options),
      denied_(options.denied_max_records), would_deny_(options.denied_max_records) {}

EventConsumer::~EventConsumer() { Stop(); }

void EventConsumer::Start() { thread_ = std::thread([this] { Loop(); }); }

void EventConsumer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string EventConsumer::TargetOf(const bpf::DecisionEvent& e) {
  if (e.hook == "fork") return "fork:clone_files";  // fd table shared with a new process
  if (e.hook == "file_open" && e.ino == 0) return "io_uring";
  if (e.ino != 0) return StrCat(e.hook == "exec" ? "exec" : "file", ":dev=", e.dev, ":ino=", e.ino);
  if (e.family == AF_UNIX) return StrCat("unix:", e.address);
  std::string proto = e.proto == 6 ? "tcp" : e.proto == 17 ? "udp" : StrCat("proto", int{e.proto});
  if (e.family == AF_INET6) return StrCat(proto, ":[", e.address, "]:", e.port);
  if (e.family == AF_INET) return StrCat(proto, ":", e.address, ":", e.port);
  return StrCat("family", e.family, ":", proto);
}

const char* EventConsumer::ReasonOf(const bpf::DecisionEvent& e) {
  switch (e.verdict) {
    case bpf::Verdict::kDenyExpired: return denial::kExpired;
    case bpf::Verdict::kDenyQuarantine: return denial::kQuarantined;
    case bpf::Verdict::kDenyRaw: return denial::kRawSocket;
    case bpf::Verdict::kKill: return denial::kKilled;
    case bpf::Verdict::kDeny:
      if (e.hook == "file_open") return denial::kFileDenied;
      if (e.hook == "exec") return denial::kExecDenied;
      if (e.hook == "fork") return denial::kDenied;
      return denial::kNoGrant;
    case bpf::Verdict::kAllowGrant: break;
  }
  return denial::kDenied;
}

const char* EventConsumer::ReasonOfLsm(std::string_view hook) {
  if (hook == "file_open" || hook == "path_write") return denial::kFileDenied;
  if (hook == "bprm_check") return denial::kExecDenied;
  if (hook == "task_kill" || hook == "ptrace" || hook == "bpf" || hook == "cgroup_escape" || hook == "self_state")
    return denial::kSelfProtection;
  return denial::kDenied;
}

void EventConsumer::Handle(const bpf::DecisionEvent& e) {
  const int64_t when_ms = EventWallMs(e.time_ns);
  if (e.audit) {  // allowed: what enforce mode would have denied, never a denial
    metrics_.WouldDenyEvents(1);
    would_deny_.Add(DeniedKey{e.cgroup_id, std::string(bpf::VerdictName(e.verdict)), TargetOf(e)}, 1, when_ms);
    return;
  }
  if (e.verdict != bpf::Verdict::kAllowGrant) {
    metrics_.DeniedEvents(1);
    std::string target = TargetOf(e);
    if (denials_ != nullptr)
      denials_->Record({.time_ms = when_ms, .cgroup_id = e.cgroup_id, .pid = e.pid, .reason = ReasonOf(e),
                        .hook = e.hook, .target = target});
    denied_.Add(DeniedKey{e.cgroup_id, std::string(bpf::VerdictName(e.verdict)), std::move(target)}, 1, when_ms);
    return;
  }
  if (!exercised_.insert(e.tao_id).second) {
    log::Warn("duplicate grant event ignored (re-read after restart)", {{"cgroup_id", std::to_string(e.cgroup_id)}});
    return;
  }
  std::string target = TargetOf(e);
  if (denials_ != nullptr) denials_->Exercised(e.cgroup_id, target, e.tao_id, when_ms);
  Evidence::Fields f = {
      {"tao_id", ToHex(std::string_view(reinterpret_cast<const char*>(e.tao_id.data()), e.tao_id.size()))},
      {"cgroup_id", std::to_string(e.cgroup_id)},
      {"target", std::move(target)},
      {"pid", std::to_string(e.pid)},
      {"event", e.hook},
      {"verdict", std::string(bpf::VerdictName(e.verdict))},
  };
  metrics_.Exercised();
  AppendExercised(std::move(f), when_ms);
}

void EventConsumer::AppendExercised(Evidence::Fields f, int64_t when_ms) {
  if (pending_exercised_.empty()) {
    auto seq = evidence_.Append(Evidence::Kind::kExercised, f);
    if (seq.ok()) return;
    metrics_.LedgerError();
    log::Error("EXERCISED record held until the ledger has room",
               {{"error", std::string(seq.status().message())}});
  }
  if (pending_exercised_.size() >= options_.max_pending_exercised) {
    // Only reachable if grants outnumber the queue: the oldest goes, loudly.
    pending_exercised_.pop_front();
    metrics_.ExercisedLost(1);
    log::Error("EXERCISED record lost: holding queue full",
               {{"max_pending", std::to_string(options_.max_pending_exercised)}});
  }
  f.emplace_back("first_seen_ms", std::to_string(when_ms));
  pending_exercised_.push_back(std::move(f));
  metrics_.ExercisedPending(pending_exercised_.size());
}

void EventConsumer::RetryExercised() {
  const size_t before = pending_exercised_.size();
  while (!pending_exercised_.empty()) {
    if (!evidence_.Append(Evidence::Kind::kExercised, pending_exercised_.front()).ok()) break;
    pending_exercised_.pop_front();
  }
  if (pending_exercised_.size() == before) return;
  metrics_.ExercisedPending(pending_exercised_.size());
  log::Info("held EXERCISED records written", {{"written", std::to_string(before - pending_exercised_.size())},
                                               {"still_held", std::to_string(pending_exercised_.size())}});
}

namespace {
void AddTimes(const DeniedSummary& s, Evidence::Fields& f) {
  if (s.first_ms == 0) return;
  f.emplace_back("first_seen_ms", std::to_string(s.first_ms));
  f.emplace_back("last_seen_ms", std::to_string(s.last_ms));
}
}  // namespace

void EventConsumer::FlushDenied() {
  if (!denied_.empty()) Flush(denied_, Evidence::Kind::kDenied, "kernel_deny");
  if (!would_deny_.empty()) Flush(would_deny_, Evidence::Kind::kWouldDeny, "kernel_would_deny");
}

void EventConsumer::Flush(DeniedAggregator& from, Evidence::Kind kind, const char* event) {
  auto summaries = from.Flush();
  for (const DeniedSummary& s : summaries) {
    Evidence::Fields f;
    if (s.overflow) {
      f = {{"event", kind == Evidence::Kind::kDenied ? "denied_overflow" : "would_deny_overflow"},
           {"count", std::to_string(s.count)}};
      AddTimes(s, f);
      if (kind == Evidence::Kind::kDenied) metrics_.DeniedSuppressed(s.count);
    } else {
      f = {{"cgroup_id", std::to_string(s.key.cgroup_id)},
           {"verdict", s.key.verdict},
           {"target", s.key.target},
           {"count", std::to_string(s.count)},
           {"event", event}};
      AddTimes(s, f);
    }
    if (evidence_.Append(kind, std::move(f)).ok()) {
      if (kind == Evidence::Kind::kDenied) metrics_.DeniedRecords(1);
    } else {
      metrics_.LedgerError();
    }
  }
}

void EventConsumer::Loop() {
  const std::function<void(const bpf::DecisionEvent&)> fn = [this](const bpf::DecisionEvent& e) { Handle(e); };
  int64_t next_flush = RealClock().MonoMs() + options_.denied_flush_ms;
  int64_t next_sweep = RealClock().MonoMs() + options_.sweep_every_ms;
  while (true) {
    bool stopping = stop_.load();
    auto n = gate_.PollEvents(stopping ? 0 : 100, fn);
    if (!n.ok()) {
      log::Error("ring buffer poll failed", {{"error", std::string(n.status().message())}});
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (enforcer_ != nullptr) {
      auto m = enforcer_->PollLsmEvents(0, [this](const enforce::LsmDenial& d) {
        metrics_.DeniedEvents(1);
        std::string target = d.target_pid != 0 ? StrCat("pid:", d.target_pid)
                             : d.ino != 0      ? StrCat("ino:", d.ino)
                                               : std::string("-");
        const int64_t when_ms = EventWallMs(d.time_ns);
        if (denials_ != nullptr)
          denials_->Record({.time_ms = when_ms, .cgroup_id = d.cgroup_id, .pid = d.pid,
                            .reason = ReasonOfLsm(d.hook), .hook = StrCat("lsm/", d.hook), .target = target});
        denied_.Add(DeniedKey{d.cgroup_id, StrCat("lsm/", d.hook), std::move(target)}, 1, when_ms);
      });
      if (!m.ok()) log::Error("LSM ring buffer poll failed", {{"error", std::string(m.status().message())}});
    }
    int64_t now = RealClock().MonoMs();
    if (stopping || now >= next_flush) {
      RetryExercised();
      FlushDenied();
      next_flush = now + options_.denied_flush_ms;
    }
    if (now >= next_sweep) {
      if (auto s = gate_.SweepExpiredGrants(); !s.ok())
        log::Warn("grant sweep failed", {{"error", std::string(s.status().message())}});
      next_sweep = now + options_.sweep_every_ms;
    }
    if (stopping) {
      if (!pending_exercised_.empty())
        log::Error("EXERCISED records not written at stop: the ledger has no room",
                   {{"count", std::to_string(pending_exercised_.size())}});
      return;
    }
  }
}

}  // namespace taogate::agent
