#include "metrics.h"

#include <civetweb.h>


#include "taogate/common/strings.h"

namespace taogate::governance::internal {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                                     Governor* governor,
                                                                     const TpmHealth* health) {
  if (listen.rfind("127.0.0.1:", 0) != 0 && listen.rfind("[::1]:", 0) != 0)
    return absl::InvalidArgumentError("metrics_listen must be on loopback (127.0.0.1:PORT)");
  std::string port = listen.substr(listen.rfind(':') + 1);
  std::string ports = listen.rfind("[::1]", 0) == 0 ? StrCat("[::1]:", port) : StrCat("127.0.0.1:", port);
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  m->governor_ = governor;
  m->health_ = health;
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2", nullptr};
  mg_init_library(0);
  mg_callbacks cb{};
  // From here on the destructor pairs mg_init_library with mg_exit_library.
  m->ctx_ = mg_start(&cb, nullptr, options);
  if (m->ctx_ == nullptr) return absl::UnavailableError(StrCat("cannot listen on ", listen));
  mg_set_request_handler(m->ctx_, "/metrics", &MetricsServer::HandleMetrics, m.get());
  mg_set_request_handler(m->ctx_, "/healthz", &MetricsServer::HandleHealth, m.get());
  mg_server_port sp[2];
  int n = mg_get_server_ports(m->ctx_, 2, sp);
  m->port_ = n > 0 ? sp[0].port : 0;
  return m;
}

MetricsServer::~MetricsServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
  mg_exit_library();  // pairs with mg_init_library in Start (reference counted)
}

int MetricsServer::HandleMetrics(mg_connection* c, void* self) {
  auto* m = static_cast<MetricsServer*>(self);
  auto s = m->governor_->stats();
  std::string body;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    body += StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ", v, "\n");
  };
  counter("taogate_governor_permits_total", "TAOs issued.", s.permit);
  counter("taogate_governor_denies_total", "Requests denied.", s.deny);
  counter("taogate_governor_pending_total", "Requests routed to approvers.", s.pending);
  counter("taogate_governor_approvals_total", "Approvals accepted.", s.approvals);
  counter("taogate_governor_rejections_total", "Rejections accepted.", s.rejections);
  counter("taogate_governor_expired_total", "Pending decisions expired.", s.expired);
  counter("taogate_governor_break_glass_total", "Break-glass authorizations.", s.break_glass);
  counter("taogate_governor_policy_activations_total", "Policy activations.", s.activations);
  counter("taogate_governor_rate_limited_total", "Requests refused by rate limits.", s.rate_limited);
  counter("taogate_governor_issue_errors_total", "TAO issuance failures.", s.issue_errors);
  body += StrCat("# TYPE taogate_governor_ledger_size gauge\ntaogate_governor_ledger_size ",
                 m->governor_->ledger().Size(), "\n");
  auto gauge = [&](const char* name, const char* help, const std::string& v) {
    body += StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n", name, " ", v, "\n");
  };
  const TpmHealth::Snapshot h = m->health_->Get();
  gauge("taogate_governor_software_root", "1 if the root key is in software (development).",
        h.tpm ? "0" : "1");
  if (h.tpm) {
    gauge("taogate_governor_tpm_up", "1 if the last TPM probe succeeded.", h.up ? "1" : "0");
    counter("taogate_governor_tpm_probe_failures_total", "Failed TPM probes.", h.probe_failures);
    gauge("taogate_governor_tpm_seconds_since_good_probe", "Seconds since the last good TPM probe.",
          StrCat(static_cast<int64_t>(h.seconds_since_good_probe)));
  }
  gauge("taogate_governor_issuance_allowed", "0 while issuance is stopped (TPM unreachable).",
        h.issuing ? "1" : "0");
  mg_printf(c,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            body.size());
  mg_write(c, body.data(), body.size());
  return 200;
}

int MetricsServer::HandleHealth(mg_connection* c, void* self) {
  auto* m = static_cast<MetricsServer*>(self);
  const TpmHealth::Snapshot h = m->health_->Get();
  bool ok = false;
  std::string body;
  if (m->governor_->shutting_down()) {
    body = "shutting down\n";
  } else if (!h.up) {
    body = StrCat("TPM root unreachable for ", static_cast<int64_t>(h.seconds_unreachable), " s: ",
                  h.issuing ? StrCat("still issuing within the grace (", h.grace_ms / 1000, " s)")
                            : std::string("TAO issuance stopped"),
                  ": ", h.last_error, "\n");
  } else {
    ok = true;
    body = h.tpm ? "ok (root: tpm)\n"
                 : "ok (root: software, development mode: no TPM to probe)\n";
  }
  mg_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n",
            ok ? 200 : 503, ok ? "OK" : "Service Unavailable", body.size());
  mg_write(c, body.data(), body.size());
  return ok ? 200 : 503;
}

}  // namespace taogate::governance::internal
