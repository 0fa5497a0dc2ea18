// Loopback HTTP for /metrics (Prometheus text) and /healthz, on civetweb.
// The server owns one civetweb context; destruction stops it before the
// Governor and TpmHealth it reads from go away. Thread safety: civetweb
// threads only read Governor::stats(), ledger size and TpmHealth::Get()
// (all thread-safe).
// /healthz: 200 "ok (root: tpm|software ...)", or 503 with the reason
// (shutting down; TPM root unreachable, and whether issuance has stopped).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/governance/governor.h"
#include "taogate/governance/tpm_health.h"

struct mg_context;
struct mg_connection;

namespace taogate::governance::internal {

class MetricsServer {
 public:
  // `listen` is "127.0.0.1:PORT"; anything not on loopback is refused.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              Governor* governor,
                                                              const TpmHealth* health);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  mg_context* ctx_ = nullptr;
  Governor* governor_ = nullptr;
  const TpmHealth* health_ = nullptr;
  int port_ = 0;
  static int HandleMetrics(mg_connection* c, void* self);
  static int HandleHealth(mg_connection* c, void* self);
};

}  // namespace taogate::governance::internal
