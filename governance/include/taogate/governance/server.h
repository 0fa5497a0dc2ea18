// The taogate-governor process: configuration (YAML file + flags), the mTLS
// gRPC server, and the HTTP endpoint for /metrics and /healthz (loopback
// unless metrics_allow_remote).
//
// Lifecycle: GovernorServer::Start opens keys, ledger and policy, then
// listens; Shutdown() stops accepting, ends watch streams, drains in-flight
// calls (up to a grace period), then releases the governor, the ledger
// (which writes a final checkpoint) and the keys, in that order.
// SIGHUP (main.cc) and changes in the files' directories reload the TLS
// material and the policy file without a restart (Reload).
// Thread safety: Shutdown may be called from any thread (e.g. a signal
// watcher) once; Wait blocks until the server has stopped.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/governance/console.h"
#include "taogate/governance/governor.h"
#include "taogate/governance/governor_keys.h"
#include "taogate/governance/notifier.h"

namespace taogate::governance {

struct ServerConfig {
  std::string listen = "127.0.0.1:7443";  // port 0 = ephemeral
  std::string tls_ca;                     // PEM files
  std::string tls_cert;
  std::string tls_key;
  std::string metrics_listen = "127.0.0.1:9464";  // empty = off
  bool metrics_allow_remote = false;  // required for a metrics_listen not on loopback
  std::string policy_file;
  std::string port_file;  // if set, the bound gRPC port is written here
  KeyConfig keys;
  GovernorOptions governor;
  // A file whose first line is governor.ledger_postgres (a mounted Secret:
  // the connection string may carry the password). Read at start and by
  // `migrate` (ResolveLedgerPostgres), so --check-config needs no Secret.
  std::string ledger_postgres_file;
  // Notifications (notifier.h); secrets and URLs already read from their files.
  std::vector<WebhookConfig> webhooks;
  WebhookOptions webhook_options;
  // The approvals console (console.h); off unless console.listen is set.
  // tls_cert/tls_key default to the governor's.
  ConsoleConfig console;
};

// Reads a YAML config file into `config` (keys documented in
// docs/governor.md); flags given later override it. InvalidArgument naming
// the key for unknown keys or bad values.
absl::Status LoadServerConfigYaml(const std::string& path, ServerConfig* config);

// Reads ledger_postgres_file into governor.ledger_postgres (unless that is
// set already). NotFound/InvalidArgument naming the file.
absl::Status ResolveLedgerPostgres(ServerConfig* config);

class GovernorServer {
 public:
  static absl::StatusOr<std::unique_ptr<GovernorServer>> Start(ServerConfig config);
  ~GovernorServer();
  int port() const;
  void Shutdown();
  void Wait();
  // Re-reads the CA bundle, certificate, key and policy file and switches to
  // them all or not at all (docs/governor.md "Reload"); a change in their
  // directories does the same by itself. `trigger` ("sighup") is recorded.
  // Thread-safe; the refusal is returned, logged and recorded.
  absl::Status Reload(std::string_view trigger);
  Governor& governor();
  // nullptr without console_listen.
  Console* console();

 private:
  struct Impl;
  explicit GovernorServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace taogate::governance
