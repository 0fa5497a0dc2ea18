// Agent metrics (Prometheus text format) and the loopback HTTP endpoint that
// serves /metrics and /healthz (civetweb).
//
// Metrics: lock-free counters and a fixed-bucket latency histogram; thread-
// safe. MetricsServer owns the civetweb context; Stop (or the destructor)
// waits for in-flight requests.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/agent/refusal_recorder.h"

struct mg_context;
struct mg_connection;

namespace taogate::agent {

class Metrics {
 public:
  void RedeemDone(bool ok, const std::string& reason_code, int64_t latency_ns);
  void Exercised() { exercised_.fetch_add(1, std::memory_order_relaxed); }
  void DeniedEvents(uint64_t n) { denied_events_.fetch_add(n, std::memory_order_relaxed); }
  void DeniedRecords(uint64_t n) { denied_records_.fetch_add(n, std::memory_order_relaxed); }
  void DeniedSuppressed(uint64_t n) { denied_suppressed_.fetch_add(n, std::memory_order_relaxed); }
  void KillSwitchChange() { killswitch_.fetch_add(1, std::memory_order_relaxed); }
  void LedgerError() { ledger_errors_.fetch_add(1, std::memory_order_relaxed); }

  uint64_t redeem_ok() const { return redeem_ok_.load(); }
  uint64_t rejected_total() const;

  // Prometheus exposition text; `extra` appends gauges from other sources
  // (kernel counters, ledger size), already formatted.
  std::string Render(const std::string& extra) const;

 private:
  static constexpr std::array<int64_t, 10> kBucketsUs = {100, 250, 500, 1000, 2000, 5000, 10000, 50000, 250000, 1000000};
  std::atomic<uint64_t> redeem_ok_{0}, exercised_{0}, denied_events_{0}, denied_records_{0},
      denied_suppressed_{0}, killswitch_{0}, ledger_errors_{0};
  std::array<std::atomic<uint64_t>, kBucketsUs.size() + 1> buckets_{};
  std::atomic<uint64_t> latency_sum_ns_{0}, latency_count_{0};
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> rejected_;  // by reason code; guarded by mu_
};

// Refusal records (refusal_recorder.h) and appends refused by the ledger's
// space reserve, as Prometheus text for Metrics::Render's `extra`.
std::string RefusalMetricsText(const RefusalRecorder::Stats& s, uint64_t reserve_refused);

class MetricsServer {
 public:
  // `metrics_text` renders /metrics; `healthy` decides /healthz (200 "ok" or
  // 503 with the reason). Both are called on civetweb threads.
  struct Handlers {
    std::function<std::string()> metrics_text;
    std::function<absl::Status()> healthy;
  };
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address, int port,
                                                              Handlers handlers);
  ~MetricsServer();
  void Stop();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  static int HandleMetrics(::mg_connection* conn, void* self);
  static int HandleHealth(::mg_connection* conn, void* self);

  Handlers handlers_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace taogate::agent
