#include "taogate/agent/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <fstream>
#include <set>
#include <sstream>

#include "taogate/bpf/cgroup.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/rpc/client.h"
#include "taogate/enforce/enforcer.h"
#include "taogate/k8s/pod_cgroup.h"
#include "taogate/runtime/listen.h"
#include "taogate/target/target.h"

namespace taogate::agent {
namespace {

std::string Where(const YAML::Mark& m) { return StrCat(m.line + 1, ":", m.column + 1); }

// `section` names a nested mapping in errors ("dns." for dns.servers).
template <typename T>
absl::Status Get(const YAML::Node& n, const char* key, T* out, std::string_view section = "") {
  if (!n[key]) return absl::OkStatus();
  try {
    *out = n[key].as<T>();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(Where(n[key].Mark()), ": config key ", section, key, ": ", e.msg));
  }
  return absl::OkStatus();
}

// A string key whose value must be one of `values`.
absl::Status GetEnum(const YAML::Node& n, const char* key, std::string* out,
                     std::initializer_list<std::string_view> values) {
  TG_RETURN_IF_ERROR(Get(n, key, out));
  if (!n[key] || std::find(values.begin(), values.end(), *out) != values.end()) return absl::OkStatus();
  std::string allowed;
  for (std::string_view v : values) allowed += StrCat(allowed.empty() ? "" : " | ", v);
  return absl::InvalidArgumentError(
      StrCat(Where(n[key].Mark()), ": config key ", key, ": '", *out, "' is not one of ", allowed));
}

// Every key of mapping `n` is in `known`; records where each was read.
absl::Status KnownKeys(const YAML::Node& n, const std::set<std::string>& known, std::string_view section,
                       std::map<std::string, std::string>* where) {
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    if (known.count(key) == 0)
      return absl::InvalidArgumentError(StrCat(Where(kv.first.Mark()), ": config: unknown key ", section, key));
    (*where)[StrCat(section, key)] = Where(kv.first.Mark());
  }
  return absl::OkStatus();
}

// The `dns:` mapping (docs/names.md): where protected names are resolved.
absl::Status ParseDns(const YAML::Node& n, AgentConfig* c) {
  if (!n.IsMap()) return absl::InvalidArgumentError(StrCat(Where(n.Mark()), ": config key dns: must be a mapping"));
  static const std::set<std::string> kKeys = {
      "enabled", "servers", "resolv_conf", "ttl_floor_s", "ttl_ceiling_s", "retry_max_s", "max_addresses",
      "query_timeout_ms", "tries", "max_inflight", "max_names", "require_ad", "ad_trusted_path"};
  TG_RETURN_IF_ERROR(KnownKeys(n, kKeys, "dns.", &c->key_where));
  dns::Config& d = c->dns;
  TG_RETURN_IF_ERROR(Get(n, "enabled", &c->dns_enabled, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "servers", &d.servers, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "resolv_conf", &d.resolv_conf, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "ttl_floor_s", &d.table.ttl_floor_s, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "ttl_ceiling_s", &d.table.ttl_ceiling_s, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "retry_max_s", &d.table.retry_max_s, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "max_addresses", &d.table.max_addresses, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "query_timeout_ms", &d.query_timeout_ms, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "tries", &d.tries, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "max_inflight", &d.max_inflight, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "max_names", &d.max_names, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "require_ad", &d.require_ad, "dns."));
  TG_RETURN_IF_ERROR(Get(n, "ad_trusted_path", &d.ad_trusted_path, "dns."));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AgentConfig> ParseConfig(const std::string& yaml_text, AgentConfig c) {
  YAML::Node n;
  try {
    n = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(Where(e.mark), ": config: ", e.msg));
  }
  if (n.IsNull()) return c;
  if (!n.IsMap()) return absl::InvalidArgumentError("config: top level must be a mapping");
  static const std::set<std::string> kKeys = {
      "node_id", "cgroup2_mount", "governed_cgroup", "pin_root", "mount_bpffs", "mode",
      "ledger_dir", "ledger_key", "checkpoint_every_records", "checkpoint_every_ms",
      "ledger_fsync", "workload_socket", "operator_socket", "operator_uids", "trust_bundle",
      "strict_keys", "max_clock_skew_ms", "max_grant_ms", "metrics_address", "metrics_port",
      "metrics_allow_remote",
      "protected_targets", "protected_files", "protected_binaries", "lsm", "denied_flush_ms",
      "denied_max_records", "log_level",
      "governor_address", "governor_ca", "governor_cert", "governor_key", "governor_server_name",
      "targets_cache", "governor_retry_max_ms",
      "ledger_reserve_bytes", "ledger_floor_bytes", "refusal_flush_ms", "refusal_peer_records",
      "refusal_global_records", "refusal_rate_per_s", "refusal_burst", "workloads", "kubeconfig",
      "kubernetes_node_name", "governed_pods", "cgroup_rescan_ms", "acquire_max_wait_ms",
      "acquire_rate_per_s", "acquire_burst", "acquire_max_in_flight", "acquire_exe_max_bytes", "dns",
      "hold_socket", "hold_max_ms"};
  TG_RETURN_IF_ERROR(KnownKeys(n, kKeys, "", &c.key_where));
  TG_RETURN_IF_ERROR(Get(n, "node_id", &c.node_id));
  TG_RETURN_IF_ERROR(Get(n, "cgroup2_mount", &c.cgroup2_mount));
  TG_RETURN_IF_ERROR(Get(n, "governed_cgroup", &c.governed_cgroup));
  TG_RETURN_IF_ERROR(Get(n, "pin_root", &c.pin_root));
  TG_RETURN_IF_ERROR(Get(n, "mount_bpffs", &c.mount_bpffs));
  TG_RETURN_IF_ERROR(GetEnum(n, "mode", &c.mode, {"protect-listed", "deny-all"}));
  TG_RETURN_IF_ERROR(Get(n, "ledger_dir", &c.ledger_dir));
  TG_RETURN_IF_ERROR(Get(n, "ledger_key", &c.ledger_key));
  TG_RETURN_IF_ERROR(Get(n, "checkpoint_every_records", &c.checkpoint_every_records));
  TG_RETURN_IF_ERROR(Get(n, "checkpoint_every_ms", &c.checkpoint_every_ms));
  TG_RETURN_IF_ERROR(Get(n, "ledger_fsync", &c.ledger_fsync));
  TG_RETURN_IF_ERROR(Get(n, "workload_socket", &c.workload_socket));
  TG_RETURN_IF_ERROR(Get(n, "operator_socket", &c.operator_socket));
  TG_RETURN_IF_ERROR(Get(n, "operator_uids", &c.operator_uids));
  TG_RETURN_IF_ERROR(Get(n, "trust_bundle", &c.trust_bundle));
  TG_RETURN_IF_ERROR(Get(n, "strict_keys", &c.strict_keys));
  TG_RETURN_IF_ERROR(Get(n, "max_clock_skew_ms", &c.max_clock_skew_ms));
  TG_RETURN_IF_ERROR(Get(n, "max_grant_ms", &c.max_grant_ms));
  TG_RETURN_IF_ERROR(Get(n, "metrics_address", &c.metrics_address));
  TG_RETURN_IF_ERROR(Get(n, "metrics_port", &c.metrics_port));
  TG_RETURN_IF_ERROR(Get(n, "metrics_allow_remote", &c.metrics_allow_remote));
  TG_RETURN_IF_ERROR(Get(n, "protected_targets", &c.protected_targets));
  TG_RETURN_IF_ERROR(Get(n, "protected_files", &c.protected_files));
  TG_RETURN_IF_ERROR(Get(n, "protected_binaries", &c.protected_binaries));
  TG_RETURN_IF_ERROR(GetEnum(n, "lsm", &c.lsm, {"auto", "off", "require"}));
  TG_RETURN_IF_ERROR(Get(n, "denied_flush_ms", &c.denied_flush_ms));
  TG_RETURN_IF_ERROR(Get(n, "denied_max_records", &c.denied_max_records));
  TG_RETURN_IF_ERROR(GetEnum(n, "log_level", &c.log_level, {"debug", "info", "warn", "error"}));
  TG_RETURN_IF_ERROR(Get(n, "governor_address", &c.governor_address));
  TG_RETURN_IF_ERROR(Get(n, "governor_ca", &c.governor_ca));
  TG_RETURN_IF_ERROR(Get(n, "governor_cert", &c.governor_cert));
  TG_RETURN_IF_ERROR(Get(n, "governor_key", &c.governor_key));
  TG_RETURN_IF_ERROR(Get(n, "governor_server_name", &c.governor_server_name));
  TG_RETURN_IF_ERROR(Get(n, "targets_cache", &c.targets_cache));
  TG_RETURN_IF_ERROR(Get(n, "governor_retry_max_ms", &c.governor_retry_max_ms));
  TG_RETURN_IF_ERROR(Get(n, "ledger_reserve_bytes", &c.ledger_reserve_bytes));
  TG_RETURN_IF_ERROR(Get(n, "ledger_floor_bytes", &c.ledger_floor_bytes));
  TG_RETURN_IF_ERROR(Get(n, "refusal_flush_ms", &c.refusal_flush_ms));
  TG_RETURN_IF_ERROR(Get(n, "refusal_peer_records", &c.refusal_peer_records));
  TG_RETURN_IF_ERROR(Get(n, "refusal_global_records", &c.refusal_global_records));
  TG_RETURN_IF_ERROR(Get(n, "refusal_rate_per_s", &c.refusal_rate_per_s));
  TG_RETURN_IF_ERROR(Get(n, "refusal_burst", &c.refusal_burst));
  TG_RETURN_IF_ERROR(GetEnum(n, "workloads", &c.workloads, {"governed-root", "pods"}));
  TG_RETURN_IF_ERROR(Get(n, "kubeconfig", &c.kubeconfig));
  TG_RETURN_IF_ERROR(Get(n, "kubernetes_node_name", &c.kubernetes_node_name));
  TG_RETURN_IF_ERROR(Get(n, "cgroup_rescan_ms", &c.cgroup_rescan_ms));
  TG_RETURN_IF_ERROR(Get(n, "acquire_max_wait_ms", &c.acquire_max_wait_ms));
  TG_RETURN_IF_ERROR(Get(n, "acquire_rate_per_s", &c.acquire_rate_per_s));
  TG_RETURN_IF_ERROR(Get(n, "acquire_burst", &c.acquire_burst));
  TG_RETURN_IF_ERROR(Get(n, "acquire_max_in_flight", &c.acquire_max_in_flight));
  TG_RETURN_IF_ERROR(Get(n, "acquire_exe_max_bytes", &c.acquire_exe_max_bytes));
  if (n["dns"]) TG_RETURN_IF_ERROR(ParseDns(n["dns"], &c));
  TG_RETURN_IF_ERROR(Get(n, "hold_socket", &c.hold_socket));
  TG_RETURN_IF_ERROR(Get(n, "hold_max_ms", &c.hold_max_ms));
  if (n["governed_pods"]) {
    auto sel = k8s::ParsePodSelectors(n["governed_pods"]);
    if (!sel.ok())
      return absl::InvalidArgumentError(
          StrCat(Where(n["governed_pods"].Mark()), ": config key governed_pods: ", sel.status().message()));
    c.governed_pods = std::move(*sel);
  }
  return c;
}

absl::StatusOr<AgentConfig> LoadConfigFile(const std::string& path, AgentConfig base) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat("config file ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ParseConfig(ss.str(), std::move(base));
  if (!c.ok()) return absl::InvalidArgumentError(StrCat(path, ":", c.status().message()));
  for (auto& [key, where] : c->key_where) where = StrCat(path, ":", where);
  return c;
}

absl::Status FinalizeConfig(AgentConfig& c) {
  auto bad = [&c](std::string_view key, std::string_view why) {
    auto at = c.key_where.find(std::string(key));
    return absl::InvalidArgumentError(
        StrCat(at == c.key_where.end() ? "" : StrCat(at->second, ": "), "config ", key, ": ", why));
  };
  if (c.node_id.empty()) return bad("node_id", "required");
  if (c.governed_cgroup.empty() || c.governed_cgroup[0] != '/' || c.governed_cgroup == "/" ||
      c.governed_cgroup.find("..") != std::string::npos || c.governed_cgroup.back() == '/')
    return bad("governed_cgroup", "must be an absolute cgroup path below the root, e.g. /taogate");
  if (c.mode != "protect-listed" && c.mode != "deny-all") return bad("mode", "protect-listed | deny-all");
  if (c.ledger_dir.empty()) return bad("ledger_dir", "required");
  if (c.workload_socket.empty() || c.operator_socket.empty() || c.workload_socket == c.operator_socket)
    return bad("operator_socket", "workload and operator sockets must be two different paths");
  if (c.trust_bundle.empty()) return bad("trust_bundle", "required");
  if (c.max_clock_skew_ms < 0 || c.max_clock_skew_ms > 300'000) return bad("max_clock_skew_ms", "0..300000");
  if (c.max_grant_ms <= 0 || c.max_grant_ms > 3'600'000) return bad("max_grant_ms", "1..3600000");
  if (c.metrics_port > 65535 || c.metrics_port < -1) return bad("metrics_port", "-1..65535");
  if (c.metrics_port >= 0)
    TG_RETURN_IF_ERROR(runtime::CheckListenHost("metrics_address", c.metrics_address, c.metrics_allow_remote));
  if (c.denied_flush_ms < 10) return bad("denied_flush_ms", ">= 10");
  if (c.denied_max_records == 0) return bad("denied_max_records", ">= 1");
  if (c.ledger_floor_bytes > c.ledger_reserve_bytes)
    return bad("ledger_floor_bytes", "must not exceed ledger_reserve_bytes");
  if (c.refusal_flush_ms < 10 || c.refusal_flush_ms > 60'000) return bad("refusal_flush_ms", "10..60000");
  if (c.refusal_peer_records == 0) return bad("refusal_peer_records", ">= 1");
  if (c.refusal_global_records < c.refusal_peer_records)
    return bad("refusal_global_records", "must be >= refusal_peer_records");
  if (c.refusal_rate_per_s == 0) return bad("refusal_rate_per_s", ">= 1");
  if (c.refusal_burst == 0) return bad("refusal_burst", ">= 1");
  for (const auto& t : c.protected_targets) {
    auto p = target::Parse(t, target::Form::kProtected);
    if (!p.ok()) return bad("protected_targets", StrCat(t, ": ", p.status().message()));
    if (p->host == target::Host::kName)
      return bad("protected_targets", StrCat(t, ": a DNS name is protected through the governor's policy "
                                                "bundle (hosts:), not in the agent's static targets"));
  }
  for (const auto& f : c.protected_files)
    if (auto r = enforce::ParseFileRule(f); !r.ok()) return bad("protected_files", std::string(r.status().message()));
  for (const auto& b : c.protected_binaries)
    if (auto r = enforce::ParseExecRule(b); !r.ok()) return bad("protected_binaries", std::string(r.status().message()));
  if (c.lsm != "auto" && c.lsm != "off" && c.lsm != "require") return bad("lsm", "auto | off | require");
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
    return bad("log_level", "debug | info | warn | error");
  if (!c.governor_address.empty()) {
    if (absl::Status a = rpc::ValidateGovernorAddress(c.governor_address); !a.ok())
      return bad("governor_address", std::string(a.message()));
    if (c.governor_ca.empty()) return bad("governor_ca", "required with governor_address");
    if (c.governor_cert.empty()) return bad("governor_cert", "required with governor_address");
    if (c.governor_key.empty()) return bad("governor_key", "required with governor_address");
    if (c.governor_retry_max_ms < 100 || c.governor_retry_max_ms > 600'000)
      return bad("governor_retry_max_ms", "100..600000");
    if (c.targets_cache.empty()) {
      std::string dir = c.ledger_dir;
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      size_t slash = dir.rfind('/');
      std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
      c.targets_cache = (parent == "/" ? "" : parent) + "/targets.pb";
    }
  }
  if (c.acquire_max_wait_ms < 100 || c.acquire_max_wait_ms > 3'600'000) return bad("acquire_max_wait_ms", "100..3600000");
  if (c.acquire_rate_per_s == 0) return bad("acquire_rate_per_s", ">= 1");
  if (c.acquire_burst == 0) return bad("acquire_burst", ">= 1");
  if (c.acquire_max_in_flight == 0) return bad("acquire_max_in_flight", ">= 1");
  if (c.acquire_exe_max_bytes == 0) return bad("acquire_exe_max_bytes", ">= 1");
  if (c.hold_max_ms < 100 || c.hold_max_ms > 3'600'000) return bad("hold_max_ms", "100..3600000");
  if (c.workloads != "governed-root" && c.workloads != "pods") return bad("workloads", "governed-root | pods");
  if (c.workloads == "pods") {
    if (c.governed_cgroup == "/taogate") c.governed_cgroup = "/kubepods.slice";  // the default's pods form
    if (auto r = k8s::KubepodsRoot::Parse(c.governed_cgroup); !r.ok())
      return bad("governed_cgroup", StrCat("pods: kubelet's kubepods root: ", r.status().message()));
    if (c.kubernetes_node_name.empty()) {
      const char* env = getenv("NODE_NAME");
      c.kubernetes_node_name = env != nullptr && *env != '\0' ? env : c.node_id;
    }
    if (c.governed_pods && !c.governor_address.empty())
      return bad("governed_pods", "with a governor the bundle's governed_pods decide; remove it here");
  } else if (c.governed_pods) {
    return bad("governed_pods", "only with workloads: pods");
  }
  if (c.cgroup_rescan_ms < 100 || c.cgroup_rescan_ms > 3'600'000) return bad("cgroup_rescan_ms", "100..3600000");
  if (c.dns_enabled && !c.governor_address.empty()) {
    // Servers, ranges and the require_ad trust rule are checked by
    // dns::Validate at start (the resolv.conf read is the resolver's).
    for (const auto& s : c.dns.servers)
      if (auto v = dns::ParseServer(s); !v.ok()) return bad("dns.servers", StrCat(s, ": ", v.status().message()));
  }
  if (c.cgroup2_mount.empty()) {
    TG_ASSIGN_OR_RETURN(c.cgroup2_mount, bpf::Cgroup2Mount());
  }
  return absl::OkStatus();
}

}  // namespace taogate::agent
