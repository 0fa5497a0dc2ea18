// The governor's /metrics and /healthz, served by runtime::HttpEndpoint.
// Thread safety: the endpoint's threads only read Governor::stats(), ledger
// size, TpmHealth::Get() and the webhook counters (all thread-safe); the caller destroys the
// endpoint before the Governor and TpmHealth it reads from go away.
// /healthz (runtime::HealthReport): checks "tpm" (the cached TPM probe:
// unreachable, and whether issuance has stopped) and "ledger" (the last
// append failed, the directory read-only or under 8 MiB free); 200 "ok" and
// a line per check, or 503 naming the failed check (or "governor: shutting
// down").
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/governance/governor.h"
#include "taogate/governance/notifier.h"
#include "taogate/governance/tpm_health.h"
#include "taogate/runtime/http_endpoint.h"

namespace taogate::governance::internal {

// `listen` is "HOST:PORT"; a non-loopback host needs `allow_remote`
// (config metrics_allow_remote), InvalidArgument otherwise.
absl::StatusOr<std::unique_ptr<runtime::HttpEndpoint>> StartMetrics(const std::string& listen,
                                                                     bool allow_remote,
                                                                     Governor* governor,
                                                                     const TpmHealth* health,
                                                                     const WebhookNotifier* notifier);

}  // namespace taogate::governance::internal
