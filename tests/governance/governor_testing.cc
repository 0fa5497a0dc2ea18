#include "governance/governor_testing.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "taogate/common/fd.h"
#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/keys/root_signer.h"
#include "taogate/ledger/ledger.h"

namespace taogate::governance::testing {

using taogate::testing::ReadFile;
using taogate::testing::WriteFile;

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string TestPolicy(const std::map<std::string, std::array<uint8_t, 32>>& k, int variant) {
  auto key = [&](const char* id) { return ToHex(k.at(id)); };
  return StrCat(R"(version: 1
name: governor-test-v)", variant, R"(
roles:
  - id: agent
  - id: writer
  - id: dba
  - id: oncall
actors:
  - identity: spiffe://test.example/agent
    roles: [agent]
  - identity: spiffe://test.example/plugin
    roles: [agent]
  - identity: spiffe://test.example/flood
    roles: [agent]
  - identity: spiffe://test.example/writer
    roles: [writer]
  - identity: spiffe://test.example/ops
    roles: [writer, dba]
    approver_keys: [)", key(kOps), R"(]
  - identity: spiffe://test.example/human/alice
    roles: [dba]
    approver_keys: [)", key(kAlice), R"(]
  - identity: spiffe://test.example/human/bob
    roles: [dba]
    approver_keys: [)", key(kBob), R"(]
  - identity: spiffe://test.example/human/carol
    roles: [oncall]
    approver_keys: [)", key(kCarol), R"(]
workloads:
  - id: test
    selectors:
      cgroup_paths: [/taogate/test]
targets:
  - id: db
    networks:
      - cidrs: [127.0.0.1/32]
        ports: [5432]
        protocols: [tcp]
  - id: secrets
    file_paths: [/etc/test/secret]
action_classes:
  - id: db.read
    ttl: 60s
  - id: db.write
    ttl: 30s
rules:
  - id: never-plugin
    effect: deny
    actors: [spiffe://test.example/plugin]
    workloads: ["*"]
    actions: ["*"]
    targets: ["*"]
  - id: agents-read
    effect: )", variant == 2 ? "deny" : "allow", R"(
    roles: [agent]
    workloads: [test]
    actions: [db.read]
    targets: [db]
  - id: writes-need-two-dbas
    effect: require_approval
    roles: [writer]
    workloads: [test]
    actions: [db.write]
    targets: [db]
    approval:
      roles: [dba]
      count: 2
rate_limits:
  actors:
    - identity: spiffe://test.example/flood
      rate: 1/h
      burst: 2
break_glass:
  - id: oncall-db-write
    roles: [oncall]
    workloads: [test]
    actions: [db.write]
    targets: [db]
    max_ttl: 5m
)");
}

GovernorProcess::GovernorProcess() {
  auto ca = CreateCa("taogate test CA");
  if (ca.ok()) ca_ = *ca;
  for (const char* id : {kOps, kAlice, kBob, kCarol})
    approver_keys_.emplace(id, *crypto::Ed25519PrivateKey::Generate());
  auto sc = IssueCert(ca_, ServerSpec("governor", {"localhost"}, {"127.0.0.1"}));
  if (sc.ok()) {
    WriteFile(dir_.path() / "server.crt", sc->cert_pem);
    WriteFile(dir_.path() / "server.key", sc->key_pem);
  }
  WriteFile(dir_.path() / "ca.crt", ca_.cert_pem);
  WriteFile(dir_.path() / "ca.key", ca_.key_pem);  // for `taogatectl certs client`
  WriteFile(policy_path(), TestPolicy(ApproverPublicKeys()));
}

GovernorProcess::~GovernorProcess() { Stop(); }

std::map<std::string, std::array<uint8_t, 32>> GovernorProcess::ApproverPublicKeys() const {
  std::map<std::string, std::array<uint8_t, 32>> out;
  for (const auto& [id, k] : approver_keys_) out[id] = k.PublicKey();
  return out;
}

bool GovernorProcess::Start(const std::vector<std::string>& extra, const std::string& tcti) {
  auto d = dir_.path();
  std::filesystem::remove(d / "port");
  std::vector<std::string> argv = {taogate::testing::BinPath("taogate-governor"),
                                   "--listen", "127.0.0.1:0",
                                   "--port-file", (d / "port").string(),
                                   "--tls-ca", (d / "ca.crt").string(),
                                   "--tls-cert", (d / "server.crt").string(),
                                   "--tls-key", (d / "server.key").string(),
                                   "--policy", policy_path(),
                                   "--ledger-dir", ledger_dir(),
                                   "--admin", kAdmin};
  if (tcti.empty()) {
    argv.insert(argv.end(), {"--software-keys", "--software-root-key", root_key_path()});
  } else {
    argv.insert(argv.end(), {"--tcti", tcti, "--tpm-create-root"});
  }
  if (std::find(extra.begin(), extra.end(), "--listen") != extra.end())  // a restart on the same port
    argv.erase(argv.begin() + 1, argv.begin() + 3);
  for (const char* own : {"--tls-ca", "--tls-cert", "--tls-key", "--policy"})  // extra's path wins
    if (std::find(extra.begin(), extra.end(), own) != extra.end())
      argv.erase(std::find(argv.begin(), argv.end(), own), std::find(argv.begin(), argv.end(), own) + 2);
  if (std::find(extra.begin(), extra.end(), "--ledger-postgres") != extra.end())  // a replica
    argv.erase(std::find(argv.begin(), argv.end(), "--ledger-dir"), std::find(argv.begin(), argv.end(), "--ledger-dir") + 2);
  if (std::find(extra.begin(), extra.end(), "--metrics-listen") == extra.end())
    argv.insert(argv.end(), {"--metrics-listen", "127.0.0.1:0"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open((d / "governor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "governor exited: " + log();
      return false;
    }
    std::string p = ReadFile(d / "port");
    if (!p.empty() && p.back() == '\n') {
      port_ = std::stoi(p);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "governor did not start: " + log();
  Stop();
  return false;
}

void GovernorProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int GovernorProcess::MetricsPort() const {
  // The port file (what Start() waits for) is written before the log line
  // that names the metrics port: poll for the line.
  for (int i = 0; i < 500; ++i) {
    std::string l = log();
    size_t at = l.find("\"metrics_port\":\"");
    if (at != std::string::npos && l.find('"', at + 16) != std::string::npos) return std::stoi(l.substr(at + 16));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

std::string GovernorProcess::log() const { return ReadFile(dir_.path() / "governor.log"); }

rpc::ClientTls GovernorProcess::TlsFor(const std::string& identity) {
  auto c = IssueCert(ca_, ClientSpec("client", identity));
  rpc::ClientTls t;
  t.ca_pem = ca_.cert_pem;
  if (c.ok()) {
    t.cert_pem = c->cert_pem;
    t.key_pem = c->key_pem;
  }
  return t;
}

std::unique_ptr<v1::Governor::Stub> GovernorProcess::ClientWith(const rpc::ClientTls& tls) {
  return v1::Governor::NewStub(rpc::MakeGovernorChannel(address(), tls));
}

std::unique_ptr<v1::Governor::Stub> GovernorProcess::Client(const std::string& identity) {
  return ClientWith(TlsFor(identity));
}

grpc::Status GovernorProcess::Authorize(const std::string& identity,
                                        const v1::AuthorizationRequest& r, v1::Decision* d) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return Client(identity)->RequestAuthorization(&ctx, r, d);
}

absl::StatusOr<keys::TrustBundle> GovernorProcess::SoftwareTrustBundle() const {
  TG_ASSIGN_OR_RETURN(auto root, keys::SoftwareRootSigner::LoadOrCreate(root_key_path()));
  return keys::TrustBundle::FromRoots({keys::TrustedRoot{"dev", root->public_key(), 0, INT64_MAX, true}});
}

absl::StatusOr<std::vector<ledger::Record>> GovernorProcess::LedgerRecords() const {
  ledger::LedgerOptions lo;
  lo.dir = ledger_dir();
  lo.read_only = true;
  TG_ASSIGN_OR_RETURN(auto l, ledger::Ledger::Open(lo));
  std::vector<ledger::Record> out;
  TG_RETURN_IF_ERROR(l->Scan(0, [&](const ledger::Record& r) {
    out.push_back(r);
    return true;
  }));
  return out;
}

v1::AuthorizationRequest ReadRequest() {
  v1::AuthorizationRequest r;
  r.mutable_binding()->set_node_id("node-a");
  r.mutable_binding()->set_cgroup_id(4242);
  r.set_workload("test");
  r.set_cgroup_path("/taogate/test");
  r.set_action_class("db.read");
  r.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  r.mutable_target()->set_address("127.0.0.1");
  r.mutable_target()->set_port(5432);
  r.set_reason("nightly orders report");
  return r;
}

v1::AuthorizationRequest WriteRequest() {
  auto r = ReadRequest();
  r.set_action_class("db.write");
  r.set_reason("refund ticket 77");
  return r;
}

}  // namespace taogate::governance::testing
