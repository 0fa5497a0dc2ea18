#include "taogate/agent/metrics.h"

#include <civetweb.h>

#include <cstring>
#include <sstream>

#include "taogate/common/strings.h"

namespace taogate::agent {

void Metrics::RedeemDone(bool ok, const std::string& reason_code, int64_t latency_ns) {
  if (ok) {
    redeem_ok_.fetch_add(1, std::memory_order_relaxed);
  } else {
    std::lock_guard<std::mutex> l(mu_);
    ++rejected_[reason_code.empty() ? "UNKNOWN" : reason_code];
  }
  size_t i = 0;
  while (i < kBucketsUs.size() && latency_ns > kBucketsUs[i] * 1000) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_.fetch_add(static_cast<uint64_t>(latency_ns), std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
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
  o << "# TYPE taogate_agent_exercised_total counter\n"
    << "taogate_agent_exercised_total " << exercised_.load() << "\n"
    << "# TYPE taogate_agent_denied_events_total counter\n"
    << "taogate_agent_denied_events_total " << denied_events_.load() << "\n"
    << "# TYPE taogate_agent_denied_records_total counter\n"
    << "taogate_agent_denied_records_total " << denied_records_.load() << "\n"
    << "# TYPE taogate_agent_denied_suppressed_total counter\n"
    << "taogate_agent_denied_suppressed_total " << denied_suppressed_.load() << "\n"
    << "# TYPE taogate_agent_killswitch_changes_total counter\n"
    << "taogate_agent_killswitch_changes_total " << killswitch_.load() << "\n"
    << "# TYPE taogate_agent_ledger_errors_total counter\n"
    << "taogate_agent_ledger_errors_total " << ledger_errors_.load() << "\n"
    << "# HELP taogate_agent_redeem_seconds Redeem latency (verify + durable CONSUMED + grant).\n"
    << "# TYPE taogate_agent_redeem_seconds histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < kBucketsUs.size(); ++i) {
    cum += buckets_[i].load();
    o << "taogate_agent_redeem_seconds_bucket{le=\"" << kBucketsUs[i] / 1e6 << "\"} " << cum << "\n";
  }
  cum += buckets_[kBucketsUs.size()].load();
  o << "taogate_agent_redeem_seconds_bucket{le=\"+Inf\"} " << cum << "\n"
    << "taogate_agent_redeem_seconds_sum " << latency_sum_ns_.load() / 1e9 << "\n"
    << "taogate_agent_redeem_seconds_count " << latency_count_.load() << "\n"
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

namespace {
void Reply(mg_connection* conn, int code, const char* reason, const std::string& type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            code, reason, type.c_str(), body.size());
  mg_write(conn, body.data(), body.size());
}
}  // namespace

int MetricsServer::HandleMetrics(mg_connection* conn, void* self) {
  auto* s = static_cast<MetricsServer*>(self);
  Reply(conn, 200, "OK", "text/plain; version=0.0.4", s->handlers_.metrics_text());
  return 200;
}

int MetricsServer::HandleHealth(mg_connection* conn, void* self) {
  auto* s = static_cast<MetricsServer*>(self);
  absl::Status st = s->handlers_.healthy();
  if (st.ok()) {
    Reply(conn, 200, "OK", "text/plain", "ok\n");
    return 200;
  }
  Reply(conn, 503, "Service Unavailable", "text/plain", std::string(st.message()) + "\n");
  return 503;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address, int port,
                                                                    Handlers handlers) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->handlers_ = std::move(handlers);
  std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  std::string ports = StrCat(host, ":", port);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2",
                           "request_timeout_ms", "5000", nullptr};
  mg_callbacks cb{};
  mg_init_library(0);
  s->ctx_ = mg_start(&cb, nullptr, options);
  if (s->ctx_ == nullptr) return absl::UnavailableError(StrCat("cannot serve metrics on ", ports));
  mg_set_request_handler(s->ctx_, "/metrics$", &MetricsServer::HandleMetrics, s.get());
  mg_set_request_handler(s->ctx_, "/healthz$", &MetricsServer::HandleHealth, s.get());
  mg_server_port sp[4];
  int n = mg_get_server_ports(s->ctx_, 4, sp);
  s->port_ = n > 0 ? sp[0].port : port;
  return s;
}

void MetricsServer::Stop() {
  if (ctx_ != nullptr) mg_stop(ctx_);
  ctx_ = nullptr;
}

MetricsServer::~MetricsServer() { Stop(); }

}  // namespace taogate::agent
