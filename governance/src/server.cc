#include "taogate/governance/server.h"

#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "metrics.h"
#include "reload.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/governance/service.h"
#include "taogate/rpc/tls_check.h"
#include "taogate/policies/loader.h"
#include "taogate/runtime/file_watch.h"

namespace taogate::governance {
namespace {

// Idle gRPC worker threads kept for the next calls (see BuildAndStart below).
constexpr int kMaxIdleWorkers = 64;

absl::StatusOr<std::string> ReadAll(const std::string& path, std::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(StrCat(what, " is required"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", what, " ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Destruction order matters: metrics and gRPC stop first (they call into the
// governor), then the governor (and its ledger), then the keys it borrows.
struct GovernorServer::Impl {
  ServerConfig config;
  std::unique_ptr<GovernorKeys> keys;
  std::unique_ptr<WebhookNotifier> notifier;  // the governor calls it
  std::unique_ptr<Console> console;           // mints the governor's links; serves after it
  std::unique_ptr<Governor> governor;
  std::unique_ptr<GovernorService> service;
  std::unique_ptr<internal::ServedTls> tls;  // outlives the server that reads it
  std::unique_ptr<internal::Reloader> reloader;
  std::unique_ptr<runtime::FileWatch> watch;  // calls the reloader: stopped first
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<runtime::HttpEndpoint> metrics;
  int port = 0;
  std::once_flag shutdown_once;

  ~Impl() {
    watch.reset();
    metrics.reset();
    if (console) console->Stop();  // calls into the governor
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server.reset();
    service.reset();
    reloader.reset();
    governor.reset();
    console.reset();
    notifier.reset();
    keys.reset();
  }
};

GovernorServer::GovernorServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GovernorServer::~GovernorServer() { Shutdown(); }
int GovernorServer::port() const { return impl_->port; }
Governor& GovernorServer::governor() { return *impl_->governor; }
Console* GovernorServer::console() { return impl_->console.get(); }

absl::StatusOr<std::unique_ptr<GovernorServer>> GovernorServer::Start(ServerConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  ServerConfig& c = impl->config;
  TG_ASSIGN_OR_RETURN(std::string ca, ReadAll(c.tls_ca, "tls_ca"));
  TG_ASSIGN_OR_RETURN(std::string cert, ReadAll(c.tls_cert, "tls_cert"));
  TG_ASSIGN_OR_RETURN(std::string key, ReadAll(c.tls_key, "tls_key"));
  std::string policy_yaml;
  if (c.policy_file.empty()) return absl::InvalidArgumentError("policy_file is required");
  TG_RETURN_IF_ERROR(policies::ReadBundleFile(c.policy_file, &policy_yaml));
  TG_RETURN_IF_ERROR(ResolveLedgerPostgres(&c));
  if (c.governor.ledger_dir.empty() == c.governor.ledger_postgres.empty())
    return absl::InvalidArgumentError("set exactly one of ledger_dir and ledger_postgres");

  c.keys.instance = c.governor.instance;
  TG_ASSIGN_OR_RETURN(impl->keys, OpenGovernorKeys(c.keys));
  if (impl->keys->root->software_mode())
    log::Warn("SOFTWARE KEYS: development mode, every TAO says software_mode", {});
  if (!c.webhooks.empty()) {
    TG_ASSIGN_OR_RETURN(impl->notifier, WebhookNotifier::Create(c.governor.instance, c.webhooks,
                                                                c.webhook_options));
    c.governor.notifier = impl->notifier.get();
  }
  if (!c.console.listen.empty()) {
    if (c.console.tls_cert.empty()) c.console.tls_cert = c.tls_cert;
    if (c.console.tls_key.empty()) c.console.tls_key = c.tls_key;
    TG_ASSIGN_OR_RETURN(impl->console, Console::Create(c.console, c.governor.clock));
    Console* console = impl->console.get();
    c.governor.console_link = [console](const std::string& id, int64_t until_ms) {
      return console->MintDecisionLink(id, until_ms);
    };
  }
  TG_ASSIGN_OR_RETURN(impl->governor, Governor::Create(c.governor, impl->keys.get(), policy_yaml,
                                                       c.policy_file));
  impl->service = std::make_unique<GovernorService>(impl->governor.get(), c.governor.admins, impl->console.get());

  // The files are checked as a reload checks them (docs/governor.md "Reload").
  TG_RETURN_IF_ERROR(rpc::CheckCaBundle(ca).status());
  TG_RETURN_IF_ERROR(rpc::CheckKeyPair(cert, key, ca).status());
  internal::TlsPem pem{ca, cert, key};
  TG_ASSIGN_OR_RETURN(impl->tls, internal::ServedTls::Create(pem));
  impl->reloader = std::make_unique<internal::Reloader>(impl->config, *impl->governor, *impl->tls,
                                                        std::move(pem), policy_yaml);
  grpc::ServerBuilder b;
  b.AddListeningPort(c.listen, impl->tls->Credentials(), &impl->port);
  b.RegisterService(impl->service.get());
  b.SetMaxReceiveMessageSize(kMaxRequestBytes);  // see service.h
  // Without BDP probing a stream's HTTP/2 window stays at 64 KiB until the
  // handler reads: a refused admin-only call then costs ~64 KiB, not the
  // ~2 MiB a probed window grows to (measured; docs/governor.md).
  b.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // gRPC's sync server ends a worker after its call once two others poll
  // (default MAX_POLLERS 2), so under concurrent calls it creates and unmaps a
  // thread per call: ~12% of the governor's CPU at 64 clients
  // (bench/profiles/README.md). Keep up to kMaxIdleWorkers idle instead.
  b.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxIdleWorkers);
  impl->server = b.BuildAndStart();
  if (!impl->server || impl->port == 0)
    return absl::UnavailableError(StrCat("cannot listen on ", c.listen));
  if (impl->console) TG_RETURN_IF_ERROR(impl->console->Serve(impl->governor.get()));
  if (!c.metrics_listen.empty()) {
    TG_ASSIGN_OR_RETURN(impl->metrics,
                        internal::StartMetrics(c.metrics_listen, c.metrics_allow_remote,
                                               impl->governor.get(), impl->keys->health.get(),
                                               impl->notifier.get()));
  }
  // Kubernetes swaps a mounted Secret/ConfigMap's `..data` symlink: watch the
  // directories, not the files (file_watch.h).
  internal::Reloader* r = impl->reloader.get();
  TG_ASSIGN_OR_RETURN(impl->watch,
                      runtime::FileWatch::Start({c.tls_ca, c.tls_cert, c.tls_key, c.policy_file},
                                                std::chrono::milliseconds(500),
                                                [r] { (void)r->Reload("file_change"); }));
  if (!c.port_file.empty()) {
    std::string tmp = c.port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << impl->port << "\n";
      if (!out) return absl::InternalError(StrCat("cannot write ", tmp));
    }
    if (std::rename(tmp.c_str(), c.port_file.c_str()) != 0)
      return ErrnoStatus(errno, StrCat("rename ", c.port_file));
  }
  log::Info("governor listening",
            {{"address", c.listen}, {"port", std::to_string(impl->port)},
             {"metrics_port", std::to_string(impl->metrics ? impl->metrics->port() : 0)},
             {"console", c.console.listen.empty() ? "off" : c.console.origin + "/console/"},
             {"policy_sha256", impl->governor->policy()->HashHex()},
             {"keys", impl->keys->root->software_mode() ? "software" : "tpm"}});
  return std::unique_ptr<GovernorServer>(new GovernorServer(std::move(impl)));
}

void GovernorServer::Shutdown() {
  if (!impl_) return;
  std::call_once(impl_->shutdown_once, [&] {
    impl_->governor->Shutdown();  // ends watch streams
    if (impl_->server)
      impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  });
}

absl::Status GovernorServer::Reload(std::string_view trigger) {
  return impl_->reloader->Reload(trigger);
}

void GovernorServer::Wait() {
  if (impl_ && impl_->server) impl_->server->Wait();
}

}  // namespace taogate::governance
