// The HTTP endpoint of a daemon (agent, governor): GET /metrics (Prometheus
// text, ending with taogate_<component>_healthy (the /healthz verdict, 1/0)
// and taogate_<component>_build_info) and GET /healthz (200 with the
// daemon's "ok" text, or 503 with the reason). Both routes match exactly;
// any other path is 404.
//
// Lifetime and threads: Start owns one civetweb context; Stop (or the
// destructor) waits for in-flight requests, so the handlers may borrow
// objects that outlive the endpoint. Handlers run on civetweb threads and
// must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/runtime/listen.h"

struct mg_context;
struct mg_connection;

namespace taogate::runtime {

class HttpEndpoint {
 public:
  struct Handlers {
    std::function<std::string()> metrics_text;  // families with HELP and TYPE
    // A value: 200 with that text ("ok"); an error: 503 with its message.
    std::function<absl::StatusOr<std::string>()> healthy;
  };
  // `component` names taogate_<component>_build_info and _healthy ("agent", "governor").
  // `where` must have passed ParseListen/CheckListenHost. Unavailable if the
  // port cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const ListenAddress& where,
                                                             std::string component,
                                                             Handlers handlers);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;
  void Stop();
  int port() const { return port_; }

 private:
  HttpEndpoint() = default;
  static int HandleMetrics(mg_connection* conn, void* self);
  static int HandleHealth(mg_connection* conn, void* self);

  std::string component_;
  Handlers handlers_;
  mg_context* ctx_ = nullptr;
  bool library_ = false;  // mg_init_library called; paired in the destructor
  int port_ = 0;
};

}  // namespace taogate::runtime
