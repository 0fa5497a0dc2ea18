// Telling people: when a decision waits for approval, when someone breaks the
// glass and when the kill switch changes, the governor POSTs a notification to
// each configured webhook (docs/approvals.md, "Notifications").
//
// Delivery never blocks or fails the call that caused it: Notify() copies the
// notification into each webhook's bounded queue and returns. One thread per
// webhook delivers in order (a kill-switch release never overtakes its
// engage), retrying timeouts, connection errors, 5xx, 408 and 429 with
// exponential backoff up to max_attempts; other 4xx fail at once. Each
// outcome is counted: taogate_governor_webhook_deliveries_total{webhook,
// outcome="delivered|retried|failed|dropped"} (dropped: queue full, or still
// queued at shutdown).
//
// Bodies: `json` (one object: event, governor, summary and the fields below)
// or `slack` (Slack's incoming-webhook {"text": ...}, with &, < and >
// escaped). With a secret, each request carries
//   X-Taogate-Timestamp: <unix ms>
//   X-Taogate-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
// so a receiver can refuse forged and replayed notifications.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace taogate::governance {

struct Notification {
  std::string event;    // pending_approval | break_glass | kill_switch
  std::string summary;  // one line for a person
  // In order: decision_id, requester, workload, action, target, rule,
  // reason (the sanitized summary, as in the ledger), ... (docs/approvals.md).
  std::vector<std::pair<std::string, std::string>> fields;
};

class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void Notify(const Notification& n) = 0;
};

struct WebhookConfig {
  std::string name;
  std::string url;               // https://..., or http:// to a loopback address only
  std::string format = "json";   // json | slack
  std::string secret;            // HMAC key; "" = unsigned
  std::string ca_file;           // PEM bundle for the receiver's certificate; "" = system CAs
};

struct WebhookOptions {
  int max_attempts = 5;
  int64_t first_backoff_ms = 1'000;  // doubled after each failed attempt
  int64_t max_backoff_ms = 60'000;
  int64_t timeout_ms = 5'000;        // per attempt
  size_t queue_max = 1'000;          // per webhook
};

// InvalidArgument naming what is wrong: empty or duplicate-looking name,
// a URL that is not https:// (http:// only to 127.0.0.0/8, [::1] or
// localhost), a URL with user:password, an unknown format.
absl::Status ValidateWebhook(const WebhookConfig& w);

class WebhookNotifier final : public Notifier {
 public:
  // `governor` names this governor in every body (its instance).
  static absl::StatusOr<std::unique_ptr<WebhookNotifier>> Create(std::string governor,
                                                                 std::vector<WebhookConfig> hooks,
                                                                 WebhookOptions options = {});
  ~WebhookNotifier() override;
  void Notify(const Notification& n) override;
  // Prometheus text (HELP and TYPE included) for /metrics.
  std::string MetricsText() const;

  static std::string JsonBody(const std::string& governor, const Notification& n);
  static std::string SlackBody(const std::string& governor, const Notification& n);

 private:
  struct Hook;
  WebhookNotifier() = default;
  std::vector<std::unique_ptr<Hook>> hooks_;
};

}  // namespace taogate::governance
