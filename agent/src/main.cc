// taogate-agent: the per-node daemon between governed workloads and the
// kernel gate. Configuration: --config FILE (YAML, see deploy/agent/) and
// flags, which override the file. SIGTERM/SIGINT stop it gracefully; the
// kernel gate stays enforcing. SIGHUP reloads the trust bundle and the
// governor mTLS files.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "taogate/agent/config.h"
#include "taogate/agent/daemon.h"
#include "taogate/agent/preflight.h"
#include "taogate/common/log.h"
#include "taogate/common/version.h"

namespace {

taogate::log::Level ParseLevel(const std::string& s) {
  if (s == "debug") return taogate::log::Level::kDebug;
  if (s == "warn") return taogate::log::Level::kWarn;
  if (s == "error") return taogate::log::Level::kError;
  return taogate::log::Level::kInfo;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built without NDEBUG, so every absl::Mutex (gRPC's
  // included) runs deadlock detection: a global graph lock on each Lock
  // (1.5-3.5% of the agent's CPU under Acquire, bench/acquire/README.md) and
  // an abort on a suspected cycle. A debug check, not the daemon's job.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using taogate::agent::AgentConfig;
  CLI::App app{"taogate-agent: verifies and consumes TAOs, programs the kernel gate"};
  app.set_version_flag("--version", std::string("taogate-agent ") + taogate::kVersion);
  std::string config_file;
  AgentConfig f;  // flag values
  std::vector<std::string> protect;
  app.add_option("--config", config_file, "YAML configuration file");
  auto* o_node = app.add_option("--node-id", f.node_id, "this node's id (TAO binding)");
  auto* o_gov = app.add_option("--governed-cgroup", f.governed_cgroup, "governed cgroup path, e.g. /taogate");
  auto* o_pin = app.add_option("--pin-root", f.pin_root, "bpffs pin directory");
  auto* o_mount = app.add_flag("--mount-bpffs", f.mount_bpffs, "mount bpffs on the pin root's parent if needed");
  auto* o_ledger = app.add_option("--ledger-dir", f.ledger_dir, "node ledger directory");
  auto* o_lkey = app.add_option("--ledger-key", f.ledger_key, "checkpoint signing key (PEM, created if missing)");
  auto* o_ws = app.add_option("--workload-socket", f.workload_socket, "workload (Redeem) socket");
  auto* o_os = app.add_option("--operator-socket", f.operator_socket, "operator socket");
  auto* o_tb = app.add_option("--trust-bundle", f.trust_bundle, "trust bundle JSON");
  auto* o_strict = app.add_option("--strict-keys", f.strict_keys, "refuse software-mode roots (true|false)");
  auto* o_mp = app.add_option("--metrics-port", f.metrics_port, "loopback metrics port (-1 off)");
  auto* o_prot = app.add_option("--protect", protect, "protected target (repeatable), e.g. tcp:10.0.0.5:5432");
  auto* o_log = app.add_option("--log-level", f.log_level, "debug|info|warn|error");
  bool check_only = false;
  app.add_flag("--check-config", check_only, "check the configuration (file + flags) and exit: 0 valid, 2 not");
  bool syntax_only = false;  // a config for another machine (a pod's ConfigMap): its files are not here
  app.add_flag("--syntax-only", syntax_only, "with --check-config: skip the checks of the files it names");
  CLI11_PARSE(app, argc, argv);

  AgentConfig c;
  if (!config_file.empty()) {
    auto loaded = taogate::agent::LoadConfigFile(config_file);
    if (!loaded.ok()) {
      taogate::log::Error("bad configuration", {{"error", std::string(loaded.status().message())}});
      return 2;
    }
    c = *loaded;
  }
  if (o_node->count()) c.node_id = f.node_id;
  if (o_gov->count()) c.governed_cgroup = f.governed_cgroup;
  if (o_pin->count()) c.pin_root = f.pin_root;
  if (o_mount->count()) c.mount_bpffs = f.mount_bpffs;
  if (o_ledger->count()) c.ledger_dir = f.ledger_dir;
  if (o_lkey->count()) c.ledger_key = f.ledger_key;
  if (o_ws->count()) c.workload_socket = f.workload_socket;
  if (o_os->count()) c.operator_socket = f.operator_socket;
  if (o_tb->count()) c.trust_bundle = f.trust_bundle;
  if (o_strict->count()) c.strict_keys = f.strict_keys;
  if (o_mp->count()) c.metrics_port = f.metrics_port;
  if (o_prot->count()) c.protected_targets.insert(c.protected_targets.end(), protect.begin(), protect.end());
  if (o_log->count()) c.log_level = f.log_level;
  taogate::log::SetLevel(ParseLevel(c.log_level));
  if (check_only) {
    absl::Status s = taogate::agent::FinalizeConfig(c);
    if (s.ok() && !syntax_only) s = taogate::agent::Preflight(c);  // the files it names, as Start checks them
    if (!s.ok()) {
      std::cerr << "taogate-agent: " << s.message() << "\n";
      return 2;
    }
    std::cout << "configuration OK\n";
    return 0;
  }

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);  // reload (docs/agent.md "Reload"), not a stop
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto agent = taogate::agent::AgentDaemon::Start(c);
  if (!agent.ok()) {
    taogate::log::Error("agent failed to start", {{"error", std::string(agent.status().message())}});
    return 1;
  }
  std::cout << "READY" << std::endl;  // for supervisors and tests
  int sig = 0;
  while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) (void)(*agent)->Reload("sighup");
  taogate::log::Info("stopping", {{"signal", std::to_string(sig)}});
  (*agent)->Stop();
  return 0;
}
