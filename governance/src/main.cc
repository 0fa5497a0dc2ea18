// taogate-governor: policy, approvals, break-glass and TAO issuance over
// mTLS gRPC. See docs/governor.md.
#include <signal.h>
#include <stdlib.h>

#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "absl/synchronization/mutex.h"
#include "taogate/common/log.h"
#include "taogate/common/version.h"
#include "taogate/governance/server.h"
#include "taogate/pgstore/pg.h"

using taogate::governance::ServerConfig;

int main(int argc, char** argv) {
  // Debian's abseil is built without NDEBUG: every absl::Mutex (gRPC's
  // included) would run deadlock detection, a global graph lock on each
  // Lock and an abort on a suspected cycle (as in the agent's main.cc).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"taogate-governor: evaluates policy and issues TAOs"};
  app.set_version_flag("--version", std::string("taogate-governor ") + taogate::kVersion);
  ServerConfig c;
  std::string config_file;
  ServerConfig f;  // flag values; applied over the file when given
  app.add_option("--config", config_file, "YAML configuration file");
  auto* listen = app.add_option("--listen", f.listen, "gRPC address (host:port; port 0 = ephemeral)");
  auto* ca = app.add_option("--tls-ca", f.tls_ca, "CA bundle for client certificates (PEM)");
  auto* cert = app.add_option("--tls-cert", f.tls_cert, "server certificate (PEM)");
  auto* key = app.add_option("--tls-key", f.tls_key, "server private key (PEM)");
  auto* metrics = app.add_option("--metrics-listen", f.metrics_listen,
                                 "HTTP for /metrics and /healthz, loopback by default ('' = off)");
  auto* remote = app.add_flag("--metrics-allow-remote", f.metrics_allow_remote,
                              "allow a --metrics-listen address that is not loopback");
  auto* policy = app.add_option("--policy", f.policy_file, "initial policy bundle (YAML)");
  auto* ledger = app.add_option("--ledger-dir", f.governor.ledger_dir, "governor ledger directory");
  auto* pg = app.add_option("--ledger-postgres", f.governor.ledger_postgres,
                            "governor ledger in PostgreSQL (libpq connection string), shared by replicas");
  auto* instance = app.add_option("--instance", f.governor.instance, "instance name");
  auto* admins = app.add_option("--admin", f.governor.admins,
                                "actor URI allowed to activate policy, review, kill switch");
  auto* td = app.add_option("--trust-domain", f.governor.trust_domain,
                            "trust domain of node identities that may attest workloads "
                            "(default: the node certificate's own)");
  auto* tcti = app.add_option("--tcti", f.keys.tcti, "TPM TCTI, e.g. swtpm:path=SOCK or device:/dev/tpmrm0");
  auto* soft = app.add_flag("--software-keys", f.keys.software_keys,
                            "DEVELOPMENT ONLY: root key in memory, visible in every TAO");
  auto* soft_key = app.add_option("--software-root-key", f.keys.software_root_key,
                                  "PEM file for the software root key (created if missing)");
  auto* create = app.add_flag("--tpm-create-root", f.keys.tpm_create_root,
                              "create the TPM root key if missing (idempotent)");
  auto* probe = app.add_option("--tpm-probe-interval-ms", f.keys.tpm_probe_interval_ms,
                               "how often the TPM root is probed (default 5000)");
  int64_t grace_s = 0;
  auto* grace = app.add_option("--tpm-grace-s", grace_s,
                               "keep issuing this long after the TPM became unreachable (default 0)");
  auto* port_file = app.add_option("--port-file", f.port_file, "write the bound port here");
  auto* console_listen = app.add_option("--console-listen", f.console.listen,
                                        "HTTPS approvals console (host:port; docs/approvals.md)");
  auto* console_origin = app.add_option("--console-origin", f.console.origin,
                                        "the console's origin and WebAuthn origin, e.g. https://localhost:8443");
  auto* nofsync = app.add_flag("!--no-fsync", f.governor.ledger_fsync,
                               "benchmarks only: do not fdatasync ledger appends");
  bool debug = false;
  app.add_flag("--debug", debug, "debug logging");
  bool check_only = false;
  app.add_flag("--check-config", check_only, "check the configuration file and exit: 0 valid, 2 not");
  auto* migrate = app.add_subcommand(
      "migrate", "apply the PostgreSQL ledger's schema migrations (--ledger-postgres or the config's) and exit");
  migrate->fallthrough();  // `migrate --ledger-postgres X` and `--config F migrate` both work
  CLI11_PARSE(app, argc, argv);
  if (debug) taogate::log::SetLevel(taogate::log::Level::kDebug);
  // The TSS would print several lines per failed TPM probe; our own errors
  // carry the decoded TPM return code. TSS2_LOG in the environment wins.
  setenv("TSS2_LOG", "all+none", /*overwrite=*/0);
  if (!config_file.empty()) {
    auto s = taogate::governance::LoadServerConfigYaml(config_file, &c);
    if (!s.ok()) {
      taogate::log::Error("bad configuration", {{"error", std::string(s.message())}});
      return 2;
    }
  }
  if (*pg) c.governor.ledger_postgres = f.governor.ledger_postgres;
  if (*migrate) {
    if (auto s = taogate::governance::ResolveLedgerPostgres(&c); !s.ok()) {
      taogate::log::Error("migrate", {{"error", std::string(s.message())}});
      return 2;
    }
    if (c.governor.ledger_postgres.empty()) {
      taogate::log::Error("migrate: no PostgreSQL ledger configured (ledger_postgres)", {});
      return 2;
    }
    auto applied = taogate::pgstore::Migrate(c.governor.ledger_postgres);
    if (!applied.ok()) {
      taogate::log::Error("migrate failed", {{"error", std::string(applied.status().message())}});
      return 1;
    }
    for (int v : *applied) std::cout << "applied schema version " << v << "\n";
    std::cout << "schema at version " << taogate::pgstore::kSchemaVersion << "\n";
    return 0;
  }
  if (check_only) {
    std::cout << "configuration OK\n";
    return 0;
  }
  if (*listen) c.listen = f.listen;
  if (*ca) c.tls_ca = f.tls_ca;
  if (*cert) c.tls_cert = f.tls_cert;
  if (*key) c.tls_key = f.tls_key;
  if (*metrics) c.metrics_listen = f.metrics_listen;
  if (*remote) c.metrics_allow_remote = f.metrics_allow_remote;
  if (*policy) c.policy_file = f.policy_file;
  if (*ledger) c.governor.ledger_dir = f.governor.ledger_dir;
  if (*instance) c.governor.instance = f.governor.instance;
  if (*admins) c.governor.admins = f.governor.admins;
  if (*td) c.governor.trust_domain = f.governor.trust_domain;
  if (*tcti) c.keys.tcti = f.keys.tcti;
  if (*soft) c.keys.software_keys = f.keys.software_keys;
  if (*soft_key) c.keys.software_root_key = f.keys.software_root_key;
  if (*create) c.keys.tpm_create_root = f.keys.tpm_create_root;
  if (*probe) c.keys.tpm_probe_interval_ms = f.keys.tpm_probe_interval_ms;
  if (*grace) c.keys.tpm_grace_ms = grace_s * 1000;
  if (*port_file) c.port_file = f.port_file;
  if (*console_listen) c.console.listen = f.console.listen;
  if (*console_origin) c.console.origin = f.console.origin;
  if (*nofsync) c.governor.ledger_fsync = f.governor.ledger_fsync;

  // Block SIGINT/SIGTERM/SIGHUP in every thread; one thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto server = taogate::governance::GovernorServer::Start(c);
  if (!server.ok()) {
    taogate::log::Error("governor failed to start", {{"error", std::string(server.status().message())}});
    return 1;
  }
  std::thread signals([&] {
    int sig = 0;
    // SIGHUP: certificates, CA bundle and policy file re-read (server.h).
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) (void)(*server)->Reload("sighup");
    taogate::log::Info("shutting down", {{"signal", std::to_string(sig)}});
    (*server)->Shutdown();
  });
  (*server)->Wait();
  signals.join();
  server->reset();  // final checkpoint, keys wiped
  taogate::log::Info("governor stopped", {});
  return 0;
}
