// Agent metrics (Prometheus text format, every family with HELP and TYPE),
// served on /metrics by runtime::HttpEndpoint (agent/src/daemon.cc).
//
// Metrics: lock-free counters and a fixed-bucket latency histogram; thread-
// safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "taogate/agent/refusal_recorder.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {

class Metrics {
 public:
  void RedeemDone(bool ok, const std::string& reason_code, int64_t latency_ns);
  void Exercised() { exercised_.fetch_add(1, std::memory_order_relaxed); }
  void DeniedEvents(uint64_t n) { denied_events_.fetch_add(n, std::memory_order_relaxed); }
  // Audit mode: let through, enforce mode would have denied (docs/audit-mode.md).
  void WouldDenyEvents(uint64_t n) { would_deny_events_.fetch_add(n, std::memory_order_relaxed); }
  void DeniedRecords(uint64_t n) { denied_records_.fetch_add(n, std::memory_order_relaxed); }
  void DeniedSuppressed(uint64_t n) { denied_suppressed_.fetch_add(n, std::memory_order_relaxed); }
  void KillSwitchChange() { killswitch_.fetch_add(1, std::memory_order_relaxed); }
  void LedgerError() { ledger_errors_.fetch_add(1, std::memory_order_relaxed); }
  // EXERCISED records held until the ledger has room again, and those given
  // up because the holding queue was full (event_consumer.h).
  void ExercisedPending(uint64_t n) { exercised_pending_.store(n, std::memory_order_relaxed); }
  void ExercisedLost(uint64_t n) { exercised_lost_.fetch_add(n, std::memory_order_relaxed); }

  uint64_t redeem_ok() const { return redeem_ok_.load(); }
  uint64_t rejected_total() const;

  // Prometheus exposition text; `extra` appends gauges from other sources
  // (kernel counters, ledger size), already formatted.
  std::string Render(const std::string& extra) const;

 private:
  std::atomic<uint64_t> redeem_ok_{0}, exercised_{0}, denied_events_{0}, denied_records_{0},
      would_deny_events_{0},
      denied_suppressed_{0}, killswitch_{0}, ledger_errors_{0}, exercised_pending_{0}, exercised_lost_{0};
  runtime::Histogram redeem_latency_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> rejected_;  // by reason code; guarded by mu_
};

// Refusal records (refusal_recorder.h) and appends refused by the ledger's
// space reserve, as Prometheus text for Metrics::Render's `extra`.
std::string RefusalMetricsText(const RefusalRecorder::Stats& s, uint64_t reserve_refused);

}  // namespace taogate::agent
