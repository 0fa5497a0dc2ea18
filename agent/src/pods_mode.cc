#include "taogate/agent/pods_mode.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "taogate/common/fd.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/config.h"
#include "taogate/k8s/selector_proto.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {

absl::Status GateWorkloadMap::Set(uint64_t cgroup_id, WorkloadVerdict verdict) {
  return gate_.SetWorkload(cgroup_id, static_cast<bpf::WorkloadKind>(verdict));
}
absl::StatusOr<size_t> GateWorkloadMap::Forget(uint64_t cgroup_id) { return gate_.ForgetWorkload(cgroup_id); }
absl::Status GateWorkloadMap::Quarantine(uint64_t cgroup_id, bool kill) {
  return gate_.Quarantine(cgroup_id, kill ? bpf::QuarantineMode::kKill : bpf::QuarantineMode::kNetwork);
}
absl::Status GateWorkloadMap::Release(uint64_t cgroup_id) { return gate_.Release(cgroup_id); }
absl::Status GateWorkloadMap::SetAudit(uint64_t cgroup_id, bool on) { return gate_.SetAuditWorkload(cgroup_id, on); }
absl::StatusOr<std::vector<uint64_t>> GateWorkloadMap::Audited() const { return gate_.AuditedWorkloads(); }
absl::StatusOr<std::map<uint64_t, WorkloadVerdict>> GateWorkloadMap::List() const {
  TG_ASSIGN_OR_RETURN(auto kinds, gate_.Workloads());
  std::map<uint64_t, WorkloadVerdict> out;
  for (const auto& [id, kind] : kinds) out[id] = static_cast<WorkloadVerdict>(kind);
  return out;
}

absl::Status JoinHostCgroupNamespace() {
  struct stat self {}, init {};
  if (stat("/proc/self/ns/cgroup", &self) != 0 || stat("/proc/1/ns/cgroup", &init) != 0) {
    // Not allowed to look at pid 1 (no hostPID, or a sandbox around the
    // agent): keep the current view. If it is not the host's, peers' paths
    // come out relative ("/../..") and are refused, never misread.
    log::Warn("cannot compare with pid 1's cgroup namespace; keeping this one",
              {{"error", strerror(errno)}});
    return absl::OkStatus();
  }
  if (self.st_ino == init.st_ino && self.st_dev == init.st_dev) return absl::OkStatus();
  UniqueFd ns(open("/proc/1/ns/cgroup", O_RDONLY | O_CLOEXEC));
  if (!ns || setns(ns.get(), CLONE_NEWCGROUP) != 0)
    return absl::FailedPreconditionError(StrCat("cannot join the host cgroup namespace (hostPID and privileges needed): ",
                                                strerror(errno)));
  log::Info("joined the host cgroup namespace", {});
  return absl::OkStatus();
}

absl::StatusOr<size_t> RestorePodScopes(const ledger::Ledger& ledger, PodClassifier& classifier) {
  std::map<std::string, bool> engaged;  // label -> kill, in ledger order
  TG_RETURN_IF_ERROR(ledger.Scan(0, [&](const ledger::Record& r) {
    if (r.kind != ledger::RecordKind::kKillSwitch) return true;
    auto scope = r.Field("scope");
    auto event = r.Field("event");
    if (!scope || !event || !IsPodScope(*scope)) return true;
    if (*event == "engage") engaged[std::string(*scope)] = r.Field("verdict") == std::optional<std::string_view>("kill");
    if (*event == "release") engaged.erase(std::string(*scope));
    return true;
  }));
  for (const auto& [label, kill] : engaged) {
    auto scope = ParsePodScope(label);
    if (!scope.ok()) continue;  // written by this agent, so parseable; skip rather than stop
    TG_RETURN_IF_ERROR(classifier.EngageScope(*scope, kill).status());
    log::Warn("kill switch scope restored from the ledger", {{"scope", label}, {"kill", kill ? "true" : "false"}});
  }
  return engaged.size();
}

absl::StatusOr<std::string> OwnCgroupPath() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return absl::FailedPreconditionError("no cgroup v2 entry in /proc/self/cgroup");
}

absl::StatusOr<std::unique_ptr<PodsMode>> PodsMode::Open(const AgentConfig& config, bpf::Gate& gate,
                                                         Evidence& evidence) {
  std::unique_ptr<PodsMode> m(new PodsMode());
  m->config_ = config;
  TG_ASSIGN_OR_RETURN(k8s::KubepodsRoot root, k8s::KubepodsRoot::Parse(config.governed_cgroup));
  TG_ASSIGN_OR_RETURN(std::string self, OwnCgroupPath());
  m->map_ = std::make_unique<GateWorkloadMap>(gate);
  m->classifier_ = std::make_unique<PodClassifier>(root, self, *m->map_, evidence);
  k8s::ClusterConfig cluster;
  if (config.kubeconfig.empty()) {
    TG_ASSIGN_OR_RETURN(cluster, k8s::InClusterConfig());
  } else {
    TG_ASSIGN_OR_RETURN(cluster, k8s::KubeconfigConfig(config.kubeconfig));
  }
  m->api_ = std::make_unique<k8s::ApiClient>(std::move(cluster));
  m->store_ = std::make_unique<k8s::Store>(config.kubernetes_node_name, m->classifier_.get());
  m->watch_ = std::make_unique<k8s::NodeWatch>(*m->api_, *m->store_, config.kubernetes_node_name);
  return m;
}

PodsMode::~PodsMode() { Stop(); }

absl::Status PodsMode::Start() {
  TG_ASSIGN_OR_RETURN(auto tree, ScanPodLevels(config_.cgroup2_mount, config_.governed_cgroup));
  TG_RETURN_IF_ERROR(classifier_->Start(tree));
  if (config_.governed_pods) classifier_->SetSelectors(*config_.governed_pods);
  TG_ASSIGN_OR_RETURN(cgroups_, CgroupTreeWatch::Open(config_.cgroup2_mount, config_.governed_cgroup,
                                                      *classifier_, config_.cgroup_rescan_ms));
  cgroups_->Start();
  watch_->Start();
  log::Info("pods mode started", {{"kubepods", config_.governed_cgroup},
                                  {"node", config_.kubernetes_node_name},
                                  {"pod_cgroups", std::to_string(tree.size())}});
  return absl::OkStatus();
}

void PodsMode::Stop() {
  if (watch_) watch_->Stop();
  if (cgroups_) cgroups_->Stop();
}

absl::Status PodsMode::Check(const v1::ProtectedTargets& msg) {
  return k8s::FromProto(msg.governed_pods()).status();
}

void PodsMode::Applied(const v1::ProtectedTargets& msg) {
  auto selectors = k8s::FromProto(msg.governed_pods());
  if (!selectors.ok()) return;  // Check refused it before anything was applied
  classifier_->SetSelectors(std::move(*selectors));
  classifier_->SetAuditWorkloads({msg.audit_workloads().begin(), msg.audit_workloads().end()}, config_.node_id);
}

std::string PodsMode::MetricsText() const {
  PodCounts c = classifier_->counts();
  k8s::ReflectorStatus pods = watch_->PodStatus(), nss = watch_->NamespaceStatus();
  CgroupWatchStats w = cgroups_ ? cgroups_->stats() : CgroupWatchStats{};
  std::string out = runtime::Family("taogate_agent_pods", "gauge",
                                    "Pod cgroups on this node by verdict in the kernel's workload map.");
  out += StrCat("taogate_agent_pods{verdict=\"governed\"} ", c.governed, "\n",
                "taogate_agent_pods{verdict=\"ungoverned\"} ", c.ungoverned, "\n",
                "taogate_agent_pods{verdict=\"unclassified\"} ", c.unclassified, "\n");
  out += runtime::Gauge("taogate_agent_pods_decided",
                        "1 once the bundle's selectors and both API lists are known (0: new pods fail closed).",
                        c.decided ? 1 : 0);
  out += runtime::Counter("taogate_agent_pod_verdict_changes_total", "Workload-map verdicts written.",
                          c.changes_total);
  out += runtime::Counter("taogate_agent_pods_removed_total",
                          "Workloads forgotten with their grants and quarantine (pod deleted, cgroup gone).",
                          c.removed_total);
  out += runtime::Counter("taogate_agent_pod_map_errors_total", "Workload-map writes that failed.",
                          c.kernel_errors_total);
  out += runtime::Family("taogate_agent_k8s_watch_connected", "gauge", "1 while the API watch stream is open.");
  out += StrCat("taogate_agent_k8s_watch_connected{resource=\"pods\"} ", pods.connected ? 1 : 0, "\n",
                "taogate_agent_k8s_watch_connected{resource=\"namespaces\"} ", nss.connected ? 1 : 0, "\n");
  out += runtime::Family("taogate_agent_k8s_relists_total", "counter", "Lists after the first (410 Gone, errors).");
  out += StrCat("taogate_agent_k8s_relists_total{resource=\"pods\"} ", pods.relists, "\n",
                "taogate_agent_k8s_relists_total{resource=\"namespaces\"} ", nss.relists, "\n");
  out += runtime::Counter("taogate_agent_cgroup_events_total", "Pod-level cgroup mkdir/rmdir seen.",
                          w.created + w.removed);
  return out;
}

}  // namespace taogate::agent
