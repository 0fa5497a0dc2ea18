#include "taogate/agent/metrics.h"

#include <sstream>

#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {

using runtime::Counter;
using runtime::Gauge;

void Metrics::RedeemDone(bool ok, const std::string& reason_code, int64_t latency_ns) {
  if (ok) {
    redeem_ok_.fetch_add(1, std::memory_order_relaxed);
  } else {
    std::lock_guard<std::mutex> l(mu_);
    ++rejected_[reason_code.empty() ? "UNKNOWN" : reason_code];
  }
  redeem_latency_.Observe(latency_ns);
}

uint64_t Metrics::rejected_total() const {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = 0;
  for (const auto& [k, v] : rejected_) n += v;
  return n;
}

std::string Metrics::Render(const std::string& extra) const {
  std::ostringstream o;
  o << "# HELP taogate_agent_redeems_total TAOs redeemed (consumed and granted).\n"
    << "# TYPE taogate_agent_redeems_total counter\n"
    << "taogate_agent_redeems_total " << redeem_ok_.load() << "\n"
    << "# HELP taogate_agent_rejected_total Redeems refused, by reason code.\n"
    << "# TYPE taogate_agent_rejected_total counter\n";
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [k, v] : rejected_) o << "taogate_agent_rejected_total{reason=\"" << k << "\"} " << v << "\n";
  }
  o << Counter("taogate_agent_exercised_total", "Grants used by a connect or open (kernel events).",
                exercised_.load())
    << Counter("taogate_agent_denied_events_total", "Denials reported by the kernel.", denied_events_.load())
    << Counter("taogate_agent_would_deny_events_total",
               "Audit mode: connects let through that enforce mode would deny.", would_deny_events_.load())
    << Counter("taogate_agent_denied_records_total", "DENIED ledger records written (aggregated).",
               denied_records_.load())
    << Counter("taogate_agent_denied_suppressed_total", "Denials counted into a summary, not recorded alone.",
               denied_suppressed_.load())
    << Counter("taogate_agent_killswitch_changes_total", "Kill-switch engages and releases.", killswitch_.load())
    << Counter("taogate_agent_ledger_errors_total", "Ledger appends that failed.", ledger_errors_.load())
    << Gauge("taogate_agent_exercised_pending",
             "EXERCISED records held until the node ledger has room; written in order when it does.",
             static_cast<int64_t>(exercised_pending_.load()))
    << Counter("taogate_agent_exercised_lost_total",
               "EXERCISED records given up because the holding queue was full.", exercised_lost_.load())
    << runtime::Family("taogate_agent_redeem_seconds", "histogram",
                       "Redeem latency (verify + durable CONSUMED + grant).")
    << redeem_latency_.Samples("taogate_agent_redeem_seconds")
    << extra;
  return o.str();
}

std::string RefusalMetricsText(const RefusalRecorder::Stats& s, uint64_t reserve_refused) {
  std::ostringstream o;
  o << "# HELP taogate_agent_refusals_total Refused redeems and operator calls.\n"
    << "# TYPE taogate_agent_refusals_total counter\n"
    << "taogate_agent_refusals_total " << s.refusals << "\n"
    << "# HELP taogate_agent_refusal_records_total Ledger records written for refusals, by form.\n"
    << "# TYPE taogate_agent_refusal_records_total counter\n"
    << "taogate_agent_refusal_records_total{form=\"own\"} " << s.records << "\n"
    << "taogate_agent_refusal_records_total{form=\"summary\"} " << s.summary_records << "\n"
    << "# HELP taogate_agent_refusals_aggregated_total Refusals counted into summary records.\n"
    << "# TYPE taogate_agent_refusals_aggregated_total counter\n"
    << "taogate_agent_refusals_aggregated_total " << s.aggregated << "\n"
    << "# HELP taogate_agent_refusals_dropped_total Refusals whose record could not be written.\n"
    << "# TYPE taogate_agent_refusals_dropped_total counter\n"
    << "taogate_agent_refusals_dropped_total " << s.dropped << "\n"
    << "# HELP taogate_agent_refusals_rate_limited_total Redeems refused before verification (RATE_LIMITED).\n"
    << "# TYPE taogate_agent_refusals_rate_limited_total counter\n"
    << "taogate_agent_refusals_rate_limited_total " << s.rate_limited << "\n"
    << "# HELP taogate_agent_ledger_reserve_refused_total Appends refused to keep the ledger's space reserve.\n"
    << "# TYPE taogate_agent_ledger_reserve_refused_total counter\n"
    << "taogate_agent_ledger_reserve_refused_total " << reserve_refused << "\n";
  return o.str();
}

}  // namespace taogate::agent
