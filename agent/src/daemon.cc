#include "taogate/agent/daemon.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "taogate/agent/acquire.h"
#include "taogate/agent/attest.h"
#include "taogate/agent/bundle_verifier.h"
#include "taogate/agent/event_consumer.h"
#include "taogate/agent/gate_grants.h"
#include "taogate/agent/governor_client.h"
#include "taogate/agent/governor_watch.h"
#include "taogate/agent/hold.h"
#include "taogate/agent/kernel_adapters.h"
#include "taogate/agent/ledger_evidence.h"
#include "taogate/agent/metrics.h"
#include "taogate/agent/name_resolution.h"
#include "taogate/agent/node_addresses.h"
#include "taogate/agent/node_control.h"
#include "taogate/agent/preflight.h"
#include "taogate/agent/pods_mode.h"
#include "taogate/agent/reload.h"
#include "taogate/agent/service.h"
#include "taogate/agent/unix_server.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/common/clock.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/common/version.h"
#include "taogate/enforce/enforcer.h"
#include "taogate/runtime/file_watch.h"
#include "taogate/runtime/http_endpoint.h"
#include "taogate/runtime/health.h"
#include "taogate/runtime/metrics_text.h"
#include "taogate/target/target.h"

namespace taogate::agent {
namespace {

// The checkpoint key: read, or created with mode 0600.
absl::StatusOr<crypto::Ed25519PrivateKey> LoadOrCreateKey(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    return crypto::Ed25519PrivateKey::FromPem(ss.str());
  }
  TG_ASSIGN_OR_RETURN(auto key, crypto::Ed25519PrivateKey::Generate());
  TG_ASSIGN_OR_RETURN(std::string pem, key.ToPem());
  mode_t old = umask(077);
  std::ofstream out(path, std::ios::trunc);
  out << pem;
  out.close();
  umask(old);
  if (!out) return absl::UnavailableError(StrCat("cannot write ledger key ", path));
  return key;
}

// The governor's FILE and EXEC targets onto the Enforcer, as rules of
// source "governor" (they combine with the config's rules on the same inode,
// never replace them). Policy bundles do not tell read from write, so a FILE
// target is protected against both; a trailing '/' covers the directory and
// below. A path absent on this node has no inode to protect: Protect says
// NotFound and TargetSync counts it as not enforced rather than refusing the
// bundle (a bundle is cluster-wide).
class EnforcerSink final : public FileExecSink {
 public:
  explicit EnforcerSink(enforce::Enforcer& e) : e_(e) {}
  absl::Status Protect(v1::TargetProto kind, const std::string& path) override {
    TG_ASSIGN_OR_RETURN(enforce::PathRule rule, RuleOf(kind, path));
    return e_.Protect(rule, "governor");
  }
  absl::Status Unprotect(v1::TargetProto kind, const std::string& path) override {
    TG_ASSIGN_OR_RETURN(enforce::PathRule rule, RuleOf(kind, path));
    absl::Status st = e_.Unprotect(rule, "governor");
    return absl::IsNotFound(st) ? absl::OkStatus() : st;
  }

 private:
  static absl::StatusOr<enforce::PathRule> RuleOf(v1::TargetProto kind, const std::string& path) {
    if (kind == v1::TARGET_PROTO_FILE) return enforce::ParseFileRule("rw:" + path);
    if (kind == v1::TARGET_PROTO_EXEC) return enforce::ParseExecRule(path);
    return absl::InvalidArgumentError(StrCat("not a file or exec target: ", path));
  }
  enforce::Enforcer& e_;
};

}  // namespace

struct AgentDaemon::Parts {
  AgentConfig config;
  Metrics metrics;
  std::unique_ptr<ledger::Signer> signer;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<LedgerEvidence> evidence;
  std::unique_ptr<StatvfsFreeSpace> free_space;
  std::unique_ptr<ReservedEvidence> reserved;  // over evidence: what everything appends through
  std::unique_ptr<BundleVerifier> verifier;
  std::unique_ptr<bpf::Gate> gate;
  std::unique_ptr<GateGrants> grants;
  std::unique_ptr<PodsMode> pods;               // workloads: pods only
  std::unique_ptr<GateKernel> kernel;           // over gate
  std::unique_ptr<enforce::Enforcer> enforcer;  // after gate (holds a pointer to it)
  std::unique_ptr<EnforcerAdapter> enforcement;  // over enforcer (null without one)
  std::unique_ptr<Redeemer> redeemer;
  std::unique_ptr<GateNodeControl> control;
  DenialLog denials;  // fed by the consumer, read by Why on both sockets
  std::unique_ptr<EventConsumer> consumer;
  std::unique_ptr<GrpcGovernorClient> governor_client;  // Acquire's (null without a governor)
  std::unique_ptr<KernelAttester> attester;
  std::unique_ptr<Acquirer> acquirer;                   // before workload_svc, which uses it
  std::unique_ptr<AgentServiceImpl> workload_svc, operator_svc;
  std::unique_ptr<UnixGrpcServer> workload_srv, operator_srv;
  std::unique_ptr<HoldService> hold;  // hold mode (hold.h); null without hold_socket
  std::unique_ptr<runtime::HttpEndpoint> metrics_srv;
  // Governor streams (only with governor_address).
  std::unique_ptr<FileExecSink> file_exec_sink;  // before target_sync, which uses it
  std::unique_ptr<NameResolution> names;         // before target_sync, which uses it (governor only)
  std::unique_ptr<GateWorkloadMap> audit_map;    // governed-root mode: root_audit's kernel
  std::unique_ptr<RootAuditSync> root_audit;     // before target_sync, which feeds it
  std::unique_ptr<TargetSync> target_sync;  // also without a governor (static + node targets)
  std::unique_ptr<TargetSyncSink> target_sink;  // over target_sync
  std::unique_ptr<NodeAddressWatcher> node_watcher;  // feeds target_sync; stopped first
  std::unique_ptr<GovernedNodeControl> governed_control;
  std::unique_ptr<GovernorWatch> governor_watch;
  std::unique_ptr<AgentReloader> reloader;          // trust bundle + governor mTLS files
  std::unique_ptr<runtime::FileWatch> reload_watch;  // calls the reloader: stopped first
  NodeControl* served_control = nullptr;  // what the sockets serve
  std::string governed_abs;               // cgroup2 mount + governed_cgroup
  bool stopped = false;

  // Init's steps (AgentDaemon::Init calls them in this order).
  absl::Status OpenLedger();
  absl::Status LoadTrustBundle();
  absl::Status OpenGate();
  absl::Status OpenEnforcer();
  absl::Status StartPods();
  absl::Status StartTargetSync(rpc::ClientTls& governor_tls);
  absl::StatusOr<uint64_t> RestoreConsumed();
  absl::Status StartControl(uint64_t restored, rpc::ClientTls governor_tls);
  absl::Status StartSockets();
  absl::Status StartMetrics();
  absl::Status StartReload();
};

absl::StatusOr<std::unique_ptr<AgentDaemon>> AgentDaemon::Start(AgentConfig config) {
  std::unique_ptr<AgentDaemon> d(new AgentDaemon());
  d->p_ = std::make_unique<Parts>();
  if (absl::Status st = d->Init(std::move(config)); !st.ok()) {
    d->Stop();
    return st;
  }
  return d;
}

// Init's steps, in order. Each names what it brings up; a failing step
// leaves the parts made so far for Stop() to take down.
absl::Status AgentDaemon::Init(AgentConfig config) {
  TG_RETURN_IF_ERROR(FinalizeConfig(config));
  TG_RETURN_IF_ERROR(Preflight(config));  // before anything is created (preflight.h)
  Parts& p = *p_;
  p.config = std::move(config);
  p.governed_abs = p.config.cgroup2_mount + p.config.governed_cgroup;
  // Before any thread exists: a cgroup namespace is per thread, and every
  // thread must read peers' cgroups in the host's view.
  if (p.config.workloads == "pods") TG_RETURN_IF_ERROR(JoinHostCgroupNamespace());
  TG_RETURN_IF_ERROR(p.LoadTrustBundle());  // reads only: a bad bundle creates no ledger
  TG_RETURN_IF_ERROR(p.OpenLedger());
  TG_RETURN_IF_ERROR(p.OpenGate());
  TG_RETURN_IF_ERROR(p.OpenEnforcer());
  TG_RETURN_IF_ERROR(p.StartPods());
  rpc::ClientTls governor_tls;
  TG_RETURN_IF_ERROR(p.StartTargetSync(governor_tls));
  TG_ASSIGN_OR_RETURN(uint64_t restored, p.RestoreConsumed());
  TG_RETURN_IF_ERROR(p.StartControl(restored, std::move(governor_tls)));
  TG_RETURN_IF_ERROR(p.StartSockets());
  TG_RETURN_IF_ERROR(p.StartMetrics());
  TG_RETURN_IF_ERROR(p.StartReload());
  const AgentConfig& c = p.config;
  log::Info("agent started", {{"node", c.node_id},
                              {"governed", p.governed_abs},
                              {"adopted", p.gate->adopted() ? "true" : "false"},
                              {"restored_consumed", std::to_string(restored)},
                              {"workload_socket", c.workload_socket},
                              {"operator_socket", c.operator_socket},
                              {"metrics_port", std::to_string(metrics_port())},
                              {"strict_keys", c.strict_keys ? "true" : "false"}});
  return absl::OkStatus();
}

// 2. The node ledger, its checkpoint signer and the space reserve in front.
absl::Status AgentDaemon::Parts::OpenLedger() {
  const AgentConfig& c = config;
  ledger::LedgerOptions lo;
  lo.dir = c.ledger_dir;
  lo.origin = StrCat("taogate/node/", c.node_id);
  lo.fsync = c.ledger_fsync;
  if (!c.ledger_key.empty()) {
    TG_ASSIGN_OR_RETURN(auto key, LoadOrCreateKey(c.ledger_key));
    TG_ASSIGN_OR_RETURN(signer, ledger::Ed25519Signer::Create(StrCat("taogate-node-", c.node_id), std::move(key)));
    lo.signer = signer.get();
    lo.checkpoint_every_records = c.checkpoint_every_records;
    lo.checkpoint_every = std::chrono::milliseconds(c.checkpoint_every_ms);
  }
  std::error_code ec;
  std::filesystem::create_directories(c.ledger_dir, ec);  // Open reports a missing directory
  TG_ASSIGN_OR_RETURN(ledger, ledger::Ledger::Open(lo));
  if (ledger->recovery().truncated_tail)
    log::Warn("ledger torn tail truncated", {{"file", ledger->recovery().file},
                                             {"why", ledger->recovery().why}});
  evidence = std::make_unique<LedgerEvidence>(*ledger);
  free_space = std::make_unique<StatvfsFreeSpace>(c.ledger_dir);
  reserved = std::make_unique<ReservedEvidence>(
      *evidence, *free_space, SpaceReserve{c.ledger_reserve_bytes, c.ledger_floor_bytes});
  return absl::OkStatus();
}

// 1. The governors' root keys.
absl::Status AgentDaemon::Parts::LoadTrustBundle() {
  TG_ASSIGN_OR_RETURN(keys::TrustBundle bundle, keys::TrustBundle::Load(config.trust_bundle));
  verifier = std::make_unique<BundleVerifier>(std::move(bundle), config.strict_keys, config.max_clock_skew_ms);
  return absl::OkStatus();
}

// 3. The governed root, the kernel gate (opened or adopted) and the config's
// static targets (node targets follow the node's addresses: StartTargetSync
// expands them).
absl::Status AgentDaemon::Parts::OpenGate() {
  const AgentConfig& c = config;
  const bool pods_mode = c.workloads == "pods";
  if (pods_mode) {
    // kubelet's root: never created by the agent (a typo would govern nothing).
    struct stat st {};
    if (stat(governed_abs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return absl::FailedPreconditionError(StrCat("kubepods cgroup ", governed_abs, " does not exist"));
  } else {
    TG_RETURN_IF_ERROR(bpf::CreateCgroup(governed_abs));
  }
  bpf::GateOptions go;
  go.pods = pods_mode;
  go.pin_root = c.pin_root;
  go.governed_cgroup = governed_abs;
  go.mode = c.mode == "deny-all" ? bpf::Mode::kDenyAllExceptAllowlisted : bpf::Mode::kProtectListed;
  go.mount_bpffs = c.mount_bpffs;
  TG_ASSIGN_OR_RETURN(gate, bpf::Gate::OpenOrAdopt(go));
  grants = std::make_unique<GateGrants>(*gate);
  for (const auto& spec : c.protected_targets) {
    TG_ASSIGN_OR_RETURN(target::Target t, target::Parse(spec, target::Form::kProtected));
    if (t.host == target::Host::kNode) continue;
    TG_RETURN_IF_ERROR(gate->AddTarget(t));
  }
  return absl::OkStatus();
}

// 4. Files, exec and self-protection: BPF LSM where the kernel has it, else
// the gate's kill-on-syscall fallback (degraded), per capability.
absl::Status AgentDaemon::Parts::OpenEnforcer() {
  const AgentConfig& c = config;
  enforce::EnforcerOptions eopt;
  eopt.cgroup2_mount = c.cgroup2_mount;
  eopt.governed_cgroup = governed_abs;
  eopt.lsm_pin_dir = c.pin_root + "/lsm";
  // Pods mode: the BPF LSM governs whole cgroup subtrees by id, and the
  // kubepods root holds ungoverned pods and the agent itself, so files, exec
  // and self-protection use the gate's pods-aware fallback there (degraded;
  // docs/kubernetes.md).
  eopt.lsm = c.lsm == "off" || c.workloads == "pods" ? enforce::LsmMode::kOff
             : c.lsm == "require" ? enforce::LsmMode::kRequire
                                  : enforce::LsmMode::kAuto;
  eopt.protected_pids = {getpid()};
  TG_ASSIGN_OR_RETURN(enforcer, enforce::Enforcer::Open(gate.get(), eopt));
  for (const auto& spec : c.protected_files) {
    TG_ASSIGN_OR_RETURN(enforce::PathRule rule, enforce::ParseFileRule(spec));
    TG_RETURN_IF_ERROR(enforcer->Protect(rule));
  }
  for (const auto& spec : c.protected_binaries) {
    TG_ASSIGN_OR_RETURN(enforce::PathRule rule, enforce::ParseExecRule(spec));
    TG_RETURN_IF_ERROR(enforcer->Protect(rule));
  }
  for (const auto& cap : enforcer->Capabilities())
    log::Info("capability", {{"capability", cap.name},
                             {"mechanism", std::string(enforce::MechanismName(cap.mechanism))},
                             {"state", std::string(bpf::HookStateName(cap.state))},
                             {"detail", cap.detail}});
  return absl::OkStatus();
}

// 4d. Pods mode: pinned verdicts reconciled with the live cgroup tree, the
// cgroup and API watches started (before the targets cache is applied,
// which hands the bundle's selectors to the classifier).
absl::Status AgentDaemon::Parts::StartPods() {
  if (config.workloads != "pods") return absl::OkStatus();
  TG_ASSIGN_OR_RETURN(pods, PodsMode::Open(config, *gate, *reserved));
  TG_RETURN_IF_ERROR(RestorePodScopes(*ledger, pods->classifier()).status());
  return pods->Start();
}

// 5. Governor protected targets: the cached set (or the fail-closed
// catch-all) is in the maps before any socket opens; the streams start in
// StartControl, once the kill-switch path exists, and never delay the start.
// Node targets expand over the addresses dumped here; the watcher keeps them
// current from then on. Then the new LSM programs replace the previous
// agent's pins (until here both sets enforced).
absl::Status AgentDaemon::Parts::StartTargetSync(rpc::ClientTls& governor_tls) {
  const AgentConfig& c = config;
  TargetSyncOptions to;
  to.node_id = c.node_id;
  to.static_targets = c.protected_targets;
  to.pods = pods.get();
  if (!pods) {
    audit_map = std::make_unique<GateWorkloadMap>(*gate);
    root_audit = std::make_unique<RootAuditSync>(*audit_map, *reserved, c.cgroup2_mount, c.governed_cgroup, c.node_id,
                                                 c.cgroup_rescan_ms);
    to.audit = root_audit.get();
  }
  if (!c.governor_address.empty()) {
    file_exec_sink = std::make_unique<EnforcerSink>(*enforcer);
    TG_ASSIGN_OR_RETURN(governor_tls, rpc::LoadClientTls(c.governor_ca, c.governor_cert, c.governor_key));
    governor_tls.server_name = c.governor_server_name;
    to.cache_path = c.targets_cache;
    if (c.dns_enabled) {
      // A wrong dns: section stops the start; a node without a usable
      // server only loses names (every set naming a host is refused).
      auto nr = NameResolution::Create(c.dns);
      if (nr.ok()) {
        names = std::move(*nr);
        to.names = names.get();
      } else if (absl::IsInvalidArgument(nr.status())) {
        return nr.status();
      } else {
        log::Error("DNS names cannot be resolved: sets naming a host will be refused (fail closed)",
                   {{"error", std::string(nr.status().message())}});
      }
    }
  }
  target_sync = std::make_unique<TargetSync>(*grants, *ledger, file_exec_sink.get(), std::move(to));
  grants->set_names(target_sync.get());
  TG_ASSIGN_OR_RETURN(node_watcher, NodeAddressWatcher::Open());
  TG_RETURN_IF_ERROR(target_sync->SetNodeAddresses(node_watcher->initial()));
  TG_RETURN_IF_ERROR(target_sync->Start());
  if (root_audit) TG_RETURN_IF_ERROR(root_audit->Start());
  if (names) names->Start(*target_sync);
  node_watcher->Start([ts = target_sync.get()](const std::vector<std::string>& a) { return ts->SetNodeAddresses(a); });
  return enforcer->Commit();
}

// 6. Restart safety: the redeemer and the event consumer, with every TAO
// consumed (and exercised) before restored from the ledger. Returns how many.
absl::StatusOr<uint64_t> AgentDaemon::Parts::RestoreConsumed() {
  const AgentConfig& c = config;
  RedeemConfig rc;
  rc.node_id = c.node_id;
  rc.governed_root = c.governed_cgroup;
  rc.cgroup2_mount = c.cgroup2_mount;
  rc.max_clock_skew_ms = c.max_clock_skew_ms;
  rc.max_grant_ms = c.max_grant_ms;
  rc.refusals.flush_ms = c.refusal_flush_ms;
  rc.refusals.peer_records = c.refusal_peer_records;
  rc.refusals.global_records = c.refusal_global_records;
  rc.refusals.rate_per_s = c.refusal_rate_per_s;
  rc.refusals.burst = c.refusal_burst;
  redeemer = std::make_unique<Redeemer>(rc, *verifier, *reserved, *grants);
  EventConsumerOptions eo;
  eo.denied_flush_ms = c.denied_flush_ms;
  eo.denied_max_records = c.denied_max_records;
  kernel = std::make_unique<GateKernel>(*gate);
  if (enforcer) enforcement = std::make_unique<EnforcerAdapter>(*enforcer);
  consumer = std::make_unique<EventConsumer>(*kernel, *reserved, metrics, eo);
  consumer->set_enforcer(enforcement.get());
  consumer->set_denial_log(&denials);
  return ForEachConsumed(
      *ledger, [&](const TaoId& id, int64_t exp) { redeemer->RestoreConsumed(id, exp); },
      [&](const TaoId& id) { consumer->RestoreExercised(id); });
}

// 7. STARTED, node control (kill switch), the consumer and refusal threads,
// and the governor streams.
absl::Status AgentDaemon::Parts::StartControl(uint64_t restored, rpc::ClientTls governor_tls) {
  const AgentConfig& c = config;
  TG_RETURN_IF_ERROR(ledger->Append(ledger::RecordKind::kStarted,
                                    {{"component", "agent"}, {"version", kVersion},
                                     {"node_id", c.node_id}, {"count", std::to_string(restored)}})
                         .status());
  control = std::make_unique<GateNodeControl>(config, *kernel, *ledger, *evidence, metrics, *redeemer);
  control->set_enforcer(enforcement.get());
  control->set_target_sync(target_sync.get());
  control->set_names(names.get());
  control->set_root_audit(root_audit.get());
  if (pods) control->set_pods(&pods->classifier());
  consumer->Start();
  redeemer->refusals().Start();
  served_control = control.get();
  if (!c.governor_address.empty()) {
    target_sink = std::make_unique<TargetSyncSink>(*target_sync);
    governed_control = std::make_unique<GovernedNodeControl>(*control, *target_sink);
    served_control = governed_control.get();
    GovernorWatchOptions wo;
    wo.address = c.governor_address;
    governor_client = std::make_unique<GrpcGovernorClient>(c.governor_address, governor_tls);
    wo.tls = std::move(governor_tls);
    wo.node_id = c.node_id;
    wo.retry_max_ms = c.governor_retry_max_ms;
    governor_watch = GovernorWatch::Start(std::move(wo), *target_sink, *control);
  }
  return absl::OkStatus();
}

// 8. The workload socket (Redeem, Acquire, Authorize; 0666, identity from SO_PEERCRED) and the
// operator socket (0600 + uid allowlist).
absl::Status AgentDaemon::Parts::StartSockets() {
  const AgentConfig& c = config;
  ServiceOptions so;
  so.governed_root = c.governed_cgroup;
  so.cgroup2_mount = c.cgroup2_mount;
  if (pods) {
    so.pods_root = *k8s::KubepodsRoot::Parse(c.governed_cgroup);  // checked by FinalizeConfig
    PodClassifier* pc = &pods->classifier();
    so.pod_governed = [pc](uint64_t id) { return pc->VerdictOf(id) != WorkloadVerdict::kUngoverned; };
  }
  so.operator_uids = std::set<uid_t>(c.operator_uids.begin(), c.operator_uids.end());
  Metrics* m = &metrics;
  so.on_redeem = [m](const RedeemOutcome& out, int64_t ns) { m->RedeemDone(out.status.ok(), out.reason_code, ns); };
  KernelAttesterOptions ao;
  ao.node_id = c.node_id;
  ao.max_exe_bytes = c.acquire_exe_max_bytes;
  ao.pods_root = so.pods_root;
  if (pods) {
    PodClassifier* pc = &pods->classifier();
    ao.pod_of = [pc](const std::string& uid) { return pc->PodOf(uid); };
  }
  attester = std::make_unique<KernelAttester>(std::move(ao));
  AcquireOptions aq;
  aq.max_wait_ms = c.acquire_max_wait_ms;
  aq.rate_per_s = c.acquire_rate_per_s;
  aq.burst = c.acquire_burst;
  aq.max_in_flight = c.acquire_max_in_flight;
  acquirer = std::make_unique<Acquirer>(aq, governor_client.get(), *attester, *redeemer);
  // Hold mode (hold.h): its own socket and Acquirer, the same governor and Redeemer.
  if (!c.hold_socket.empty()) {
    HoldServiceOptions ho{
        .socket_path = c.hold_socket,
        .max_hold_ms = c.hold_max_ms,
        .governed_root = c.governed_cgroup,
        .cgroup2_mount = c.cgroup2_mount,
        .pods_root = so.pods_root,
        .pod_governed = so.pod_governed,
        .acquire = aq,
        .hold_in_flight = 64,
        .is_protected =
            [g = gate.get()](const target::Target& t) {  // unix: listed ones only, in either mode
              return t.proto == target::Proto::kUnix ? g->LookupTarget(t) == bpf::TargetKind::kProtect
                                                     : g->IsProtected(t);
            },
        .rules = [ts = target_sync.get()] { return ts->HoldRules(); },
        .target_ids = [ts = target_sync.get()](const target::Target& t) { return ts->TargetIdsAt(t); },
        .evidence = reserved.get(),
    };
    TG_ASSIGN_OR_RETURN(hold, HoldService::Start(std::move(ho), governor_client.get(), *attester, *redeemer));
    control->set_hold(hold.get());  // before the sockets open
  }
  so.acquirer = acquirer.get();
  so.denials = &denials;
  so.operator_socket = false;
  workload_svc = std::make_unique<AgentServiceImpl>(so, *redeemer, *served_control);
  so.operator_socket = true;
  so.acquirer = nullptr;
  operator_svc = std::make_unique<AgentServiceImpl>(so, *redeemer, *served_control);
  TG_ASSIGN_OR_RETURN(workload_srv,
                      UnixGrpcServer::Start({.path = c.workload_socket, .mode = 0666}, {workload_svc.get()}));
  TG_ASSIGN_OR_RETURN(operator_srv,
                      UnixGrpcServer::Start({.path = c.operator_socket, .mode = 0600}, {operator_svc.get()}));
  return absl::OkStatus();
}

// 9. /metrics and /healthz (metrics_port -1: none).
absl::Status AgentDaemon::Parts::StartMetrics() {
  if (config.metrics_port < 0) return absl::OkStatus();
  Parts* pp = this;
  runtime::HttpEndpoint::Handlers h;
  h.metrics_text = [pp] {
    std::string extra = runtime::Gauge("taogate_agent_ledger_size", "Records in the node ledger.",
                                       static_cast<int64_t>(pp->ledger->Size()));
    if (auto k = pp->gate->Counters(); k.ok()) {
      extra += runtime::Family("taogate_kernel_decisions_total", "counter",
                               "Decisions of the BPF programs, by kind (kernel counters).");
      for (const auto& [name, v] : *k) extra += StrCat("taogate_kernel_decisions_total{kind=\"", name, "\"} ", v, "\n");
    }
    extra += RefusalMetricsText(pp->redeemer->refusals().stats(), pp->reserved->refused());
    if (pp->pods) extra += pp->pods->MetricsText();
    if (pp->hold) extra += pp->hold->MetricsText();
    extra += runtime::Family("taogate_agent_acquires_total", "counter",
                             "Acquire/Authorize calls, by outcome (GRANTED, AUTHORIZED or the reason code).");
    for (const auto& [outcome, n] : pp->acquirer->outcomes())
      extra += StrCat("taogate_agent_acquires_total{outcome=\"", outcome, "\"} ", n, "\n");
    extra += pp->acquirer->LatencyText();
    const auto quarantined = pp->kernel->QuarantinedCount();
    const auto all = pp->kernel->QuarantineAllEngaged();
    extra += StrCat(runtime::Gauge("taogate_agent_quarantined_workloads", "Workloads under the kill switch.",
                                   static_cast<int64_t>(quarantined.ok() ? *quarantined : 0)),
                    runtime::Gauge("taogate_agent_killswitch_all_engaged",
                                   "1 while the kill switch holds every workload of the node.",
                                   all.ok() && *all ? 1 : 0));
    if (pp->governor_watch) extra += GovernorMetricsText(pp->governor_watch->state(), pp->target_sync->state());
    TargetSyncState ts = pp->target_sync->state();
    extra += StrCat(runtime::Gauge("taogate_agent_node_addresses", "Addresses of this node (node targets).",
                                   static_cast<int64_t>(ts.node_addresses)),
                    runtime::Counter("taogate_agent_node_address_changes_total",
                                     "Changes of the node's address set applied.", ts.node_address_changes_total),
                    runtime::Counter("taogate_agent_node_address_failures_total",
                                     "Address changes refused (the old set kept).",
                                     ts.node_address_failures_total));
    extra += StrCat(runtime::Gauge("taogate_agent_names_pending",
                                   "Names of the protected set without an address yet.",
                                   static_cast<int64_t>(ts.names_pending)),
                    runtime::Counter("taogate_agent_name_changes_total",
                                     "Address changes of protected names applied to the gate.", ts.name_changes_total),
                    runtime::Counter("taogate_agent_name_change_failures_total",
                                     "Address changes of protected names the gate refused (old maps kept).",
                                     ts.name_change_failures_total));
    if (pp->names) extra += pp->names->MetricsText();
    if (pp->reloader) extra += pp->reloader->MetricsText();
    return pp->metrics.Render(extra);
  };
  // Checks (runtime::HealthReport): the ledger takes appends, the connect
  // hooks' links are pinned and attached; the governor streams are a detail.
  h.healthy = [pp]() -> absl::StatusOr<std::string> {
    runtime::HealthCheck ledger{"ledger", absl::OkStatus(), StrCat(pp->ledger->Size(), " records")};
    if (!pp->evidence->last_append_ok()) ledger.status = absl::UnavailableError("last append failed");
    if (ledger.status.ok()) ledger.status = pp->reserved->CheckRoom(Evidence::Kind::kConsumed);
    if (ledger.status.ok()) ledger.status = runtime::CheckDirAppendable(pp->config.ledger_dir, 0);
    runtime::HealthCheck gate{"gate", absl::OkStatus(), StrCat("pinned under ", pp->config.pin_root)};
    for (const auto& hk : bpf::Gate::ProbePinned(pp->config.pin_root).hooks)
      if ((hk.name == "connect4" || hk.name == "connect6") && hk.state == bpf::HookState::kAbsent && gate.status.ok())
        gate.status = absl::UnavailableError(StrCat("hook ", hk.name, " not attached: ", hk.detail));
    runtime::HealthCheck gov{"governor", absl::OkStatus(), "none configured", false};
    if (pp->governor_watch) {
      const GovernorWatchState w = pp->governor_watch->state();
      gov.detail = pp->config.governor_address;
      if (!w.targets_connected || !w.killswitch_connected)
        gov.status = absl::UnavailableError(StrCat("streams not connected: ", w.last_error));
    }
    return runtime::HealthReport({ledger, gate, gov});
  };
  TG_ASSIGN_OR_RETURN(metrics_srv, runtime::HttpEndpoint::Start({config.metrics_address, config.metrics_port},
                                                                "agent", std::move(h)));
  return absl::OkStatus();
}

// 10. Reload on SIGHUP (main.cc) and on a change in the files' directories
// (a mounted Secret's ..data swap): reload.h.
absl::Status AgentDaemon::Parts::StartReload() {
  reloader = std::make_unique<AgentReloader>(config, *verifier, governor_client.get(), governor_watch.get(), *ledger);
  AgentReloader* r = reloader.get();
  TG_ASSIGN_OR_RETURN(reload_watch, runtime::FileWatch::Start(r->Paths(), std::chrono::milliseconds(500),
                                                              [r] { (void)r->Reload("file_change"); }));
  return absl::OkStatus();
}

absl::Status AgentDaemon::Reload(std::string_view trigger) {
  if (!p_ || !p_->reloader) return absl::FailedPreconditionError("agent not started");
  return p_->reloader->Reload(trigger);
}

int AgentDaemon::metrics_port() const { return p_ && p_->metrics_srv ? p_->metrics_srv->port() : -1; }

void AgentDaemon::Stop() {
  if (!p_ || p_->stopped) return;
  Parts& p = *p_;
  p.stopped = true;
  if (p.reload_watch) p.reload_watch->Stop();  // no reload races the teardown
  // The governor streams first: no kill switch or target update may race
  // the teardown below.
  if (p.governor_watch) p.governor_watch->Stop();
  if (p.node_watcher) p.node_watcher->Stop();
  if (p.names) p.names->Stop();  // no name change after this
  if (p.pods) p.pods->Stop();
  if (p.root_audit) p.root_audit->Stop();
  // No new calls first, then drain events, then close the ledger. The gate
  // is closed, never detached: pinned links and maps keep enforcing.
  if (p.metrics_srv) p.metrics_srv->Stop();
  p.reload_watch.reset();
  p.reloader.reset();  // after metrics (which read it), before what it points to
  if (p.governor_client) p.governor_client->CancelAll();  // no Acquire waits on approval
  if (p.workload_srv) p.workload_srv->Shutdown();
  if (p.operator_srv) p.operator_srv->Shutdown();
  if (p.hold) p.hold->Stop();  // held calls fail; its Acquires end (governor cancelled above)
  if (p.consumer) p.consumer->Stop();
  if (p.redeemer) p.redeemer->refusals().Stop();  // last summaries, before the ledger closes
  p.operator_srv.reset();
  p.workload_srv.reset();
  p.hold.reset();
  p.acquirer.reset();
  p.governor_client.reset();
  p.consumer.reset();
  p.governor_watch.reset();
  p.governed_control.reset();
  p.node_watcher.reset();
  p.names.reset();
  p.target_sync.reset();
  p.pods.reset();
  p.file_exec_sink.reset();
  p.ledger.reset();
  p.enforcer.reset();  // LSM programs stay pinned
  p.gate.reset();
  if (p.redeemer) log::Info("agent stopped; kernel enforcement left in place", {{"node", p.config.node_id}});
}

AgentDaemon::~AgentDaemon() { Stop(); }

}  // namespace taogate::agent
