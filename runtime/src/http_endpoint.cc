#include "taogate/runtime/http_endpoint.h"

#include <civetweb.h>

#include "taogate/common/strings.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::runtime {
namespace {

void Reply(mg_connection* conn, int code, const char* reason, const char* type, const std::string& body) {
  mg_printf(conn, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            code, reason, type, body.size());
  mg_write(conn, body.data(), body.size());
}

}  // namespace

int HttpEndpoint::HandleMetrics(mg_connection* conn, void* self) {
  auto* e = static_cast<HttpEndpoint*>(self);
  // The /healthz verdict as a gauge too, so an alert rule needs no probe.
  const std::string healthy = StrCat("taogate_", e->component_, "_healthy");
  Reply(conn, 200, "OK", "text/plain; version=0.0.4",
        StrCat(e->handlers_.metrics_text(),
               Gauge(healthy, "1 if /healthz answers 200, 0 if 503.", e->handlers_.healthy().ok() ? 1 : 0),
               BuildInfo(e->component_)));
  return 200;
}

int HttpEndpoint::HandleHealth(mg_connection* conn, void* self) {
  auto* e = static_cast<HttpEndpoint*>(self);
  const absl::StatusOr<std::string> ok = e->handlers_.healthy();
  if (ok.ok()) {
    Reply(conn, 200, "OK", "text/plain", StrCat(*ok, "\n"));
    return 200;
  }
  Reply(conn, 503, "Service Unavailable", "text/plain", StrCat(ok.status().message(), "\n"));
  return 503;
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const ListenAddress& where,
                                                                  std::string component,
                                                                  Handlers handlers) {
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint());
  e->component_ = std::move(component);
  e->handlers_ = std::move(handlers);
  const std::string ports = ListenSpelling(where);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2",
                           "request_timeout_ms", "5000", nullptr};
  mg_init_library(0);
  e->library_ = true;
  mg_callbacks cb{};
  e->ctx_ = mg_start(&cb, nullptr, options);
  if (e->ctx_ == nullptr) return absl::UnavailableError(StrCat("cannot serve /metrics on ", ports));
  // "$": exact match (civetweb would otherwise also route /metrics/...).
  mg_set_request_handler(e->ctx_, "/metrics$", &HttpEndpoint::HandleMetrics, e.get());
  mg_set_request_handler(e->ctx_, "/healthz$", &HttpEndpoint::HandleHealth, e.get());
  mg_server_port sp[4];
  const int n = mg_get_server_ports(e->ctx_, 4, sp);
  e->port_ = n > 0 ? sp[0].port : where.port;
  return e;
}

void HttpEndpoint::Stop() {
  if (ctx_ != nullptr) mg_stop(ctx_);
  ctx_ = nullptr;
}

HttpEndpoint::~HttpEndpoint() {
  Stop();
  if (library_) mg_exit_library();  // reference counted, pairs with Start
}

}  // namespace taogate::runtime
