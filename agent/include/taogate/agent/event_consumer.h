// The ring-buffer consumer: one thread that drains the gate's decision
// events and writes evidence.
//   TG_ALLOW_GRANT -> one EXERCISED record per event (tao id, workload
//                     cgroup, target, pid, hook; record time = when seen).
//                     An append that fails (the ledger below its space
//                     floor, an I/O error) is not dropped: the record waits
//                     in a bounded queue, in order, and is retried every
//                     flush interval and at Stop(); written late, it carries
//                     first_seen_ms, the kernel event's time. Redeems stop
//                     at the same floor, so no new grant can add to the
//                     queue while it waits (its bound is only a backstop).
//   BPF LSM denials (files, exec, self-protection; from the Enforcer, if
//   set) and any gate deny
//                  -> counted in a DeniedAggregator, flushed as DENIED
//                     records every flush interval (bounded per interval).
//   an audited gate event (DecisionEvent::audit: let through, enforce mode
//   would have denied; docs/audit-mode.md)
//                  -> aggregated the same way in its own DeniedAggregator,
//                     flushed as WOULD_DENY records with DENIED's fields
//                     (event=kernel_would_deny); not in the DenialLog.
// Every denial and every grant used also goes to a DenialLog, if set, which
// answers the Why RPC (denial_log.h).
// It also sweeps consumed/expired grants out of the kernel map periodically.
//
// Start() spawns the thread; Stop() (or the destructor) stops it after a
// final drain and flush. The gate, enforcement and evidence must outlive
// this object. The kernel is reached only through kernel_deps.h.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_set>

#include "taogate/agent/deps.h"
#include "taogate/agent/denial_log.h"
#include "taogate/agent/denied_aggregator.h"
#include "taogate/agent/kernel_deps.h"
#include "taogate/agent/metrics.h"

namespace taogate::agent {

struct EventConsumerOptions {
  int64_t denied_flush_ms = 1'000;
  uint32_t denied_max_records = 32;
  int64_t sweep_every_ms = 5'000;
  size_t max_pending_exercised = 65'536;  // the grant map's capacity
};

class EventConsumer {
 public:
  EventConsumer(DecisionSource& gate, Evidence& evidence, Metrics& metrics, EventConsumerOptions options);
  ~EventConsumer();
  // Ids already recorded as EXERCISED (from the ledger at start): a grant is
  // one-shot, so an event for one of these is a re-read after a crash.
  void RestoreExercised(const TaoId& id) { exercised_.insert(id); }
  // Also drain the BPF LSM's denials (call before Start).
  void set_enforcer(Enforcement* e) { enforcer_ = e; }
  // Also keep recent denials there (call before Start; must outlive this).
  void set_denial_log(DenialLog* log) { denials_ = log; }
  void Start();
  void Stop();

  // The target string of an event ("tcp:127.0.0.1:5432").
  static std::string TargetOf(const bpf::DecisionEvent& e);
  // The denial:: reason code of a denied gate event (kDeny is kNoGrant; the
  // DenialLog tells kConsumed from it) or of a BPF LSM denial's hook.
  static const char* ReasonOf(const bpf::DecisionEvent& e);
  static const char* ReasonOfLsm(std::string_view hook);

 private:
  void Loop();
  void Handle(const bpf::DecisionEvent& e);
  void FlushDenied();
  // Appends the EXERCISED record, or queues it behind those already waiting.
  void AppendExercised(Evidence::Fields f, int64_t when_ms);
  // Writes the waiting EXERCISED records in order until one fails.
  void RetryExercised();
  void Flush(DeniedAggregator& from, Evidence::Kind kind, const char* event);

  DecisionSource& gate_;
  Enforcement* enforcer_ = nullptr;
  DenialLog* denials_ = nullptr;
  Evidence& evidence_;
  Metrics& metrics_;
  const EventConsumerOptions options_;
  DeniedAggregator denied_;
  DeniedAggregator would_deny_;  // audit mode
  struct IdHash {
    size_t operator()(const TaoId& id) const;
  };
  std::unordered_set<TaoId, IdHash> exercised_;  // consumer thread only (after Start)
  std::deque<Evidence::Fields> pending_exercised_;  // consumer thread only
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace taogate::agent
