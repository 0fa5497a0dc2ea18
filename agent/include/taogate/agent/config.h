// taogate-agent configuration: a YAML file (deploy/agent/agent.yaml is the
// annotated example) overridden by command-line flags. Every key is optional
// except node_id; unknown keys are refused so a typo never silently weakens
// enforcement.
//
// Plain data; not thread-safe to mutate, safe to read from many threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/dns/config.h"
#include "taogate/k8s/selector.h"

namespace taogate::agent {

struct AgentConfig {
  std::string node_id;
  // cgroup v2 mount; empty = found in /proc/self/mountinfo.
  std::string cgroup2_mount;
  // Governed subtree, as a cgroup path below the cgroup2 mount ("/taogate").
  // Created if missing. Workloads are its direct children (and below).
  std::string governed_cgroup = "/taogate";
  // What a workload is:
  //   "governed-root": every direct child of governed_cgroup (systemd units,
  //                    `taogatectl run`; the default);
  //   "pods":          Kubernetes pods (pod_classifier.h). governed_cgroup is
  //                    then kubelet's kubepods root (default /kubepods.slice;
  //                    /kubepods with the cgroupfs driver), the gate is
  //                    attached there once, and which pods are governed comes
  //                    from the bundle's governed_pods (or, without a governor,
  //                    from governed_pods here), evaluated on the API server's
  //                    pods of this node.
  std::string workloads = "governed-root";
  // pods: the API server. Empty kubeconfig: in-cluster (ServiceAccount token
  // and CA, KUBERNETES_SERVICE_HOST). Node name: empty = $NODE_NAME (the
  // downward API), else node_id.
  std::string kubeconfig;
  std::string kubernetes_node_name;
  // pods, without a governor only: which pods are governed (the bundle's
  // governed_pods syntax). With a governor the bundle decides and this must
  // be absent.
  std::optional<std::vector<k8s::PodSelector>> governed_pods;
  int64_t cgroup_rescan_ms = 30'000;  // full rescan: the kubepods tree (pods), the audited workloads (governed root)
  std::string pin_root = "/sys/fs/bpf/taogate";
  bool mount_bpffs = false;  // mount a bpffs on pin_root's parent if needed
  std::string mode = "protect-listed";  // or "deny-all"

  std::string ledger_dir = "/var/lib/taogate/ledger";
  // Ed25519 PEM key that signs ledger checkpoints; created (0600) if
  // missing. Empty: no checkpoints.
  std::string ledger_key;
  uint64_t checkpoint_every_records = 10'000;
  int64_t checkpoint_every_ms = 60'000;
  bool ledger_fsync = true;  // false only for tests that measure nothing durable

  std::string workload_socket = "/run/taogate/agent.sock";
  std::string operator_socket = "/run/taogate/operator.sock";
  std::vector<uid_t> operator_uids = {0};

  std::string trust_bundle = "/etc/taogate/trust-bundle.json";
  bool strict_keys = true;  // refuse software-mode (non-TPM) roots and certificates
  int64_t max_clock_skew_ms = 2'000;
  int64_t max_grant_ms = 60'000;

  // Prometheus /metrics and /healthz (runtime/http_endpoint.h). A numeric
  // IP address; one not on loopback (e.g. 0.0.0.0 for a scraped pod) only
  // with metrics_allow_remote.
  std::string metrics_address = "127.0.0.1";
  int metrics_port = 9464;  // -1: off
  bool metrics_allow_remote = false;

  // Static protected targets, target::Parse protected form ("tcp:10.0.0.5:5432"),
  // or node targets ("tcp:node:5432": every address of this node, kept
  // current; node_addresses.h).
  std::vector<std::string> protected_targets;

  // Files and binaries (enforce::ParseFileRule / ParseExecRule syntax):
  // "r:/path", "w:/path", "rw:/dir/" (trailing slash: the directory and
  // below); binaries are absolute paths whose exec is refused. Enforced by
  // BPF LSM where it loads, else by the gate's kill-on-syscall fallback.
  std::vector<std::string> protected_files;
  std::vector<std::string> protected_binaries;
  // BPF LSM use: "auto" (where the kernel has it), "off", "require" (refuse
  // to start without it).
  std::string lsm = "auto";

  // Kernel DENIED events are aggregated per (cgroup, verdict, target) and
  // written at most every denied_flush_ms, at most denied_max_records per
  // flush (the rest are summed into one overflow record).
  int64_t denied_flush_ms = 1'000;
  uint32_t denied_max_records = 32;

  // Free space kept on the ledger's filesystem: below ledger_reserve_bytes
  // only CONSUMED, EXERCISED and KILLSWITCH records are written; below
  // ledger_floor_bytes redeems fail (UNAVAILABLE) before the disk is full.
  uint64_t ledger_reserve_bytes = 64ull << 20;
  uint64_t ledger_floor_bytes = 4ull << 20;
  // Refused redeems and operator calls (refusal_recorder.h): the first per
  // (uid, workload cgroup, reason) is its own record, within
  // refusal_peer_records per caller and refusal_global_records in all per
  // refusal_flush_ms; repeats are summarized every refusal_flush_ms. A
  // caller's refused redeems beyond refusal_burst, refilled at
  // refusal_rate_per_s, are refused before verification (RATE_LIMITED).
  int64_t refusal_flush_ms = 1'000;
  uint32_t refusal_peer_records = 4;
  uint32_t refusal_global_records = 64;
  uint32_t refusal_rate_per_s = 100;
  uint32_t refusal_burst = 200;

  // Governor streams. Empty governor_address: no governor, only
  // the static protected_targets (and no fail-closed catch-all). Otherwise
  // governor_ca/cert/key (PEM paths, mTLS) are required.
  std::string governor_address;      // "host:port"
  std::string governor_ca;
  std::string governor_cert;
  std::string governor_key;
  std::string governor_server_name;  // TLS name to check instead of the host part
  // Last applied ProtectedTargets (written atomically). Empty: <parent of
  // ledger_dir>/targets.pb.
  std::string targets_cache;
  int64_t governor_retry_max_ms = 30'000;  // reconnect backoff cap

  // Acquire/Authorize on the workload socket (acquire.h): the longest a call
  // may wait (for approval; also the default when the caller names none),
  // and per workload cgroup a token bucket (acquire_rate_per_s after
  // acquire_burst) and at most acquire_max_in_flight calls at once; beyond
  // that RATE_LIMITED. Executables larger than acquire_exe_max_bytes are not
  // hashed (the caller is not attested).
  int64_t acquire_max_wait_ms = 300'000;
  uint32_t acquire_rate_per_s = 10;
  uint32_t acquire_burst = 20;
  uint32_t acquire_max_in_flight = 4;
  uint64_t acquire_exe_max_bytes = 256ull << 20;

  // DNS names in the governor's protected set (docs/names.md): resolved by
  // the agent itself through dns.servers (empty: the nameserver lines of
  // dns.resolv_conf, on Kubernetes the cluster DNS), TTLs clamped to
  // [ttl_floor_s, ttl_ceiling_s]. dns_enabled false (or no usable server)
  // makes the agent refuse every set that names a host (fail closed).
  bool dns_enabled = true;
  dns::Config dns;

  // Hold mode (hold.h, docs/hold.md): the socket `taogatectl run --hold`
  // (and an OCI runtime's listenerPath) hands seccomp listeners to; empty:
  // off. Which held connects are acquired for, with which action class and
  // for how long, is the bundle's (`hold:` rules); hold_max_ms is this
  // node's ceiling over every rule's max hold.
  std::string hold_socket;
  int64_t hold_max_ms = 30'000;

  std::string log_level = "info";  // debug | info | warn | error

  // Where each key was read: key ("max_grant_ms", "dns.servers") -> "LINE:COL"
  // (ParseConfig) or "FILE:LINE:COL" (LoadConfigFile), so FinalizeConfig's
  // errors point at the line too. Empty for flags and code-built configs.
  std::map<std::string, std::string> key_where;
};

// Parses YAML text over `base` (keys present replace base's values). Errors
// start "LINE:COL: " (LoadConfigFile: "FILE:LINE:COL: "): an unknown key, a
// value of the wrong type, or an enum value outside its set (mode, lsm,
// workloads, log_level).
absl::StatusOr<AgentConfig> ParseConfig(const std::string& yaml_text, AgentConfig base = {});
absl::StatusOr<AgentConfig> LoadConfigFile(const std::string& path, AgentConfig base = {});

// Checks values and fills derived ones (cgroup2_mount). InvalidArgument
// naming the offending key, after its key_where when it has one.
absl::Status FinalizeConfig(AgentConfig& config);

}  // namespace taogate::agent
