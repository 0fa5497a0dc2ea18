#include "metrics.h"

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/runtime/health.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::governance::internal {
namespace {

using runtime::Counter;
using runtime::Gauge;

std::string MetricsText(Governor& governor, const TpmHealth& health) {
  const auto s = governor.stats();
  std::string body = StrCat(
      Counter("taogate_governor_permits_total", "TAOs issued.", s.permit),
      Counter("taogate_governor_denies_total", "Requests denied.", s.deny),
      Counter("taogate_governor_pending_total", "Requests routed to approvers.", s.pending),
      Counter("taogate_governor_approvals_total", "Approvals accepted.", s.approvals),
      Counter("taogate_governor_rejections_total", "Rejections accepted.", s.rejections),
      Counter("taogate_governor_expired_total", "Pending decisions expired.", s.expired),
      Counter("taogate_governor_break_glass_total", "Break-glass authorizations.", s.break_glass),
      Counter("taogate_governor_policy_activations_total", "Policy activations.", s.activations),
      Counter("taogate_governor_rate_limited_total", "Requests refused by rate limits.", s.rate_limited),
      Counter("taogate_governor_issue_errors_total", "TAO issuance failures.", s.issue_errors));
  // The one family to alert on: decisions by outcome (the counters above, labelled).
  body += StrCat(runtime::Family("taogate_governor_decisions_total", "counter",
                                 "Decisions by outcome: permit (TAO issued), deny, pending_approval."),
                 "taogate_governor_decisions_total{outcome=\"permit\"} ", s.permit, "\n",
                 "taogate_governor_decisions_total{outcome=\"deny\"} ", s.deny, "\n",
                 "taogate_governor_decisions_total{outcome=\"pending_approval\"} ", s.pending, "\n");
  body += StrCat(runtime::Family("taogate_governor_reload_total", "counter",
                                 "Reloads of certificates, CA bundle and policy file: ok (something "
                                 "changed), refused (a bad file; the old material kept)."),
                 "taogate_governor_reload_total{result=\"ok\"} ", s.reload_ok, "\n",
                 "taogate_governor_reload_total{result=\"refused\"} ", s.reload_refused, "\n");
  body += Gauge("taogate_governor_ledger_size", "Records in the governor ledger.",
                static_cast<int64_t>(governor.ledger().Size()));
  body += Counter("taogate_governor_ledger_append_failures_total", "Ledger appends that failed.",
                  governor.append_failures());
  body += governor.LatencyText();
  const TpmHealth::Snapshot h = health.Get();
  body += Gauge("taogate_governor_software_root", "1 if the root key is in software (development).",
                h.tpm ? 0 : 1);
  if (h.tpm) {
    body += Gauge("taogate_governor_tpm_up", "1 if the last TPM probe succeeded.", h.up ? 1 : 0);
    body += Counter("taogate_governor_tpm_probe_failures_total", "Failed TPM probes.", h.probe_failures);
    body += Gauge("taogate_governor_tpm_seconds_since_good_probe", "Seconds since the last good TPM probe.",
                  static_cast<int64_t>(h.seconds_since_good_probe));
  }
  body += Gauge("taogate_governor_issuance_allowed", "0 while issuance is stopped (TPM unreachable).",
                h.issuing ? 1 : 0);
  return body;
}

absl::StatusOr<std::string> Healthy(Governor& governor, const TpmHealth& health) {
  if (governor.shutting_down()) return absl::UnavailableError("governor: shutting down");
  // The TPM check reads TpmHealth's cached probe (its own thread, every
  // probe_interval): a scrape never signs.
  const TpmHealth::Snapshot h = health.Get();
  runtime::HealthCheck tpm{"tpm", absl::OkStatus(), h.tpm ? "root: tpm" : "root: software, development mode: no TPM to probe"};
  if (!h.up)
    tpm.status = absl::UnavailableError(
        StrCat("TPM root unreachable for ", static_cast<int64_t>(h.seconds_unreachable), " s: ",
               h.issuing ? StrCat("still issuing within the grace (", h.grace_ms / 1000, " s)")
                         : std::string("TAO issuance stopped"),
               ": ", h.last_error));
  runtime::HealthCheck ledger{"ledger", governor.last_append(),
                              StrCat(governor.ledger().Size(), " records in ", governor.ledger().Where())};
  if (ledger.status.ok()) ledger.status = governor.ledger().Writable();
  return runtime::HealthReport({tpm, ledger});
}

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::HttpEndpoint>> StartMetrics(const std::string& listen,
                                                                     bool allow_remote,
                                                                     Governor* governor,
                                                                     const TpmHealth* health,
                                                                     const WebhookNotifier* notifier) {
  TG_ASSIGN_OR_RETURN(runtime::ListenAddress where,
                      runtime::ParseListen("metrics_listen", listen, allow_remote));
  runtime::HttpEndpoint::Handlers h;
  h.metrics_text = [governor, health, notifier] {
    return MetricsText(*governor, *health) + (notifier ? notifier->MetricsText() : std::string());
  };
  h.healthy = [governor, health] { return Healthy(*governor, *health); };
  return runtime::HttpEndpoint::Start(where, "governor", std::move(h));
}

}  // namespace taogate::governance::internal
