// The approvals console (docs/approvals.md; API in docs/console-api.md): a
// single page the governor serves over HTTPS on its own port, where
// approvers log in and approve with WebAuthn, admins use the kill switch,
// and anyone logged in explores the ledger and verifies inclusion proofs in
// the browser.
//
// What it keeps, in memory, per governor (never secrets in clear: tokens are
// stored as their SHA-256):
//   one-time decision links (single use; valid until the decision's approval
//   window ends), one-time enrollment links (30 minutes, single use), login
//   challenges (2 minutes, single use), sessions (15 minutes, cookie
//   __Host-taogate-session + a CSRF token), and each credential's last
//   signature counter.
// Who may approve is the active policy bundle's (webauthn_credentials under
// an actor); the console verifies the WebAuthn assertion and the governor
// applies the decision-side checks (Governor::ApproveVerified).
//
// Lifecycle: Create (checks the configuration and the TLS files), then Serve
// once the governor exists (the governor mints decision links through
// MintDecisionLink from the start). Stop (or the destructor) waits for
// in-flight requests. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/common/clock.h"

namespace taogate::governance {

class Governor;

struct ConsoleConfig {
  std::string listen;   // "127.0.0.1:8443"; empty = no console
  std::string origin;   // "https://localhost:8443": the WebAuthn origin; rp id = its host
  std::string tls_cert; // PEM files (the governor's server certificate by default)
  std::string tls_key;
  bool require_user_verification = false;  // WebAuthn UV flag (PIN/biometric) required
  int64_t session_ttl_ms = 15 * 60 * 1000;
  int64_t enroll_ttl_ms = 30 * 60 * 1000;
};

class Console {
 public:
  // InvalidArgument naming what is wrong (origin not https://HOST[:PORT],
  // unreadable or mismatched certificate and key).
  static absl::StatusOr<std::unique_ptr<Console>> Create(ConsoleConfig config, const Clock* clock = nullptr);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Starts serving; `governor` outlives the console. Unavailable if the port
  // cannot be bound.
  absl::Status Serve(Governor* governor);
  void Stop();
  int port() const;

  // ORIGIN/console/#/link/TOKEN, single use, until `until_ms`.
  std::string MintDecisionLink(const std::string& decision_id, int64_t until_ms);
  // ORIGIN/console/#/enroll/TOKEN for `identity`, single use; *until_ms set.
  absl::StatusOr<std::string> MintEnrollmentLink(const std::string& identity, int64_t* until_ms);

  struct Impl;

 private:
  explicit Console(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace taogate::governance
