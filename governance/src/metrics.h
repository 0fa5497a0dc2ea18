// Loopback HTTP for /metrics (Prometheus text) and /healthz, on civetweb.
// The server owns one civetweb context; destruction stops it before the
// Governor it reads from goes away. Thread safety: civetweb threads only
// read Governor::stats() and ledger size (both thread-safe).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/governance/governor.h"

struct mg_context;
struct mg_connection;

namespace taogate::governance::internal {

class MetricsServer {
 public:
  // `listen` is "127.0.0.1:PORT"; anything not on loopback is refused.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              Governor* governor);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  mg_context* ctx_ = nullptr;
  Governor* governor_ = nullptr;
  int port_ = 0;
  static int HandleMetrics(mg_connection* c, void* self);
  static int HandleHealth(mg_connection* c, void* self);
};

}  // namespace taogate::governance::internal
