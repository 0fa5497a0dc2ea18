#include "policy_testing.h"

#include <array>
#include <cstdlib>

#include "taogate/common/hex.h"

namespace taogate::policies::testing {

crypto::Ed25519PrivateKey ApproverKey(int n) {
  std::array<uint8_t, 32> seed{};
  seed.fill(static_cast<uint8_t>(n));
  auto k = crypto::Ed25519PrivateKey::FromSeed(seed);
  if (!k.ok()) std::abort();
  return std::move(*k);
}

static std::string KeyHex(int n) { return ToHex(ApproverKey(n).PublicKey()); }

std::string TestBundleYaml() {
  return std::string(R"(version: 1
name: test-bundle
roles:
  - id: reporter
  - id: writer
  - id: dba
  - id: oncall
actors:
  - identity: spiffe://t.example/sa/reporter
    roles: [reporter]
  - identity: spiffe://t.example/sa/writer
    roles: [writer]
  - identity: spiffe://t.example/sa/plugin
    roles: [reporter]
  - identity: spiffe://t.example/human/alice
    roles: [dba]
    approver_keys: [")") + KeyHex(1) + R"("]
  - identity: spiffe://t.example/human/bob
    roles: [dba, oncall]
    approver_keys: [")" + KeyHex(2) + R"("]
  - identity: spiffe://t.example/human/carol
    roles: [oncall]
workloads:
  - id: reporter
    selectors:
      nodes: [node-a]
      cgroup_paths: [/taogate/reporter]
      pod_labels: {app: reporter}
  - id: writer
    selectors:
      cgroup_paths: [/taogate/writer/]
targets:
  - id: orders-db
    networks:
      - cidrs: [10.20.0.0/24, "fd00:20::/64"]
        ports: [5432]
        protocols: [tcp]
    unix_paths: [/run/pg/.s.PGSQL.5432]
  - id: api
    networks:
      - cidrs: [10.30.0.7/32]
        ports: ["8443-8444"]
        protocols: [tcp, udp]
  - id: shared-lb
    networks:
      - cidrs: [10.20.0.100/32]
        ports: [5432]
        protocols: [tcp]
  - id: secrets
    file_paths: [/etc/fin/secrets/, /etc/fin/key.pem]
  - id: psql
    binaries: [/usr/bin/psql]
action_classes:
  - id: db.read
    ttl: 60s
  - id: db.write
    ttl: 30s
  - id: api.call
    ttl: 2m
  - id: secrets.read
    ttl: 10s
rules:
  - id: allow-reads
    effect: allow
    roles: [reporter]
    workloads: [reporter]
    actions: [db.read, secrets.read]
    targets: [orders-db, secrets]
    ttl: 20s
  - id: plugin-never
    effect: deny
    actors: [spiffe://t.example/sa/plugin]
    workloads: ["*"]
    actions: ["*"]
    targets: ["*"]
  - id: writes-need-approval
    effect: require_approval
    roles: [writer]
    workloads: [writer]
    actions: [db.write]
    targets: [orders-db]
    approval: {roles: [dba], count: 2}
  - id: writer-also-allowed
    effect: allow
    actors: [spiffe://t.example/sa/writer]
    workloads: ["*"]
    actions: [db.write, api.call]
    targets: [orders-db, api]
  - id: no-secrets-for-writers
    effect: deny
    roles: [writer]
    workloads: ["*"]
    actions: ["*"]
    targets: [secrets]
rate_limits:
  default: {rate: 2/s, burst: 3}
  actors:
    - identity: spiffe://t.example/sa/writer
      rate: 60/m
      burst: 1
break_glass:
  - id: oncall-db
    roles: [oncall]
    workloads: [writer]
    actions: [db.write]
    targets: [orders-db]
    max_ttl: 15m
)";
}

std::shared_ptr<const Policy> TestPolicy() {
  auto p = Policy::Load(TestBundleYaml(), "test.yaml");
  if (!p.ok()) {
    fprintf(stderr, "%s\n", std::string(p.status().message()).c_str());
    std::abort();
  }
  return *p;
}

std::vector<ValidationError> Errors(const std::string& yaml) {
  std::vector<ValidationError> errors;
  auto p = Policy::Load(yaml, "b.yaml", &errors);
  if (p.ok() != errors.empty()) std::abort();  // the two reports must agree
  return errors;
}

Request Req(std::string actor, std::string action, std::string target, WorkloadAttributes w) {
  Request r;
  r.actor = std::move(actor);
  r.action = std::move(action);
  auto t = ParseTargetRef(target);
  if (!t.ok()) std::abort();
  r.target = *t;
  r.workload = std::move(w);
  return r;
}

WorkloadAttributes ReporterPod() {
  WorkloadAttributes w;
  w.node = "node-a";
  w.cgroup_path = "/taogate/reporter/pod1";
  w.pod_labels = {{"app", "reporter"}, {"tier", "x"}};
  return w;
}
WorkloadAttributes WriterCg() {
  WorkloadAttributes w;
  w.node = "node-z";
  w.cgroup_path = "/taogate/writer";
  return w;
}

}  // namespace taogate::policies::testing
