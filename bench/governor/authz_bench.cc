// End-to-end RequestAuthorization -> TAO over mTLS against a real
// taogate-governor process (software keys, durable ledger with fdatasync
// group commit), with 1 and 64 concurrent clients, each on its own TLS
// connection, with the ledger fdatasync on (the real configuration) and off
// (what durability costs). Metrics: authz_throughput (requests/s),
// authz_p50/authz_p99 (us); params say clients and fsync.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "governor.grpc.pb.h"
#include "report.h"
#include "taogate/rpc/client.h"
#include "taogate/governance/x509.h"

namespace fs = std::filesystem;
using namespace taogate;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kPolicy[] = R"(version: 1
name: bench
roles: [{id: agent}]
actors: [{identity: "spiffe://bench/agent", roles: [agent]}]
workloads: [{id: w, selectors: {cgroup_paths: [/bench]}}]
targets: [{id: db, networks: [{cidrs: [127.0.0.1/32], ports: [5432], protocols: [tcp]}]}]
action_classes: [{id: db.read, ttl: 60s}]
rules: [{id: r, effect: allow, roles: [agent], workloads: [w], actions: [db.read], targets: [db]}]
)";

void Write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

struct Governor {
  pid_t pid = -1;
  int port = 0;
  ~Governor() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

bool StartGovernor(const fs::path& dir, bool fsync, Governor* g) {
  fs::path bin = fs::read_symlink("/proc/self/exe").parent_path() / "taogate-governor";
  std::vector<std::string> argv = {bin.string(), "--listen", "127.0.0.1:0", "--port-file",
                                   (dir / "port").string(), "--tls-ca", (dir / "ca.crt").string(),
                                   "--tls-cert", (dir / "server.crt").string(), "--tls-key",
                                   (dir / "server.key").string(), "--metrics-listen", "",
                                   "--policy", (dir / "policy.yaml").string(), "--ledger-dir",
                                   (dir / (fsync ? "ledger" : "ledger-nofsync")).string(),
                                   "--software-keys"};
  if (!fsync) argv.push_back("--no-fsync");
  fs::remove(dir / "port");
  g->pid = fork();
  if (g->pid == 0) {
    int fd = open((dir / "governor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  for (int i = 0; i < 400; ++i) {
    std::ifstream in(dir / "port");
    std::string s;
    if (std::getline(in, s) && !s.empty()) {
      g->port = std::stoi(s);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

v1::AuthorizationRequest Req() {
  v1::AuthorizationRequest r;
  r.mutable_binding()->set_node_id("n1");
  r.mutable_binding()->set_cgroup_id(7);
  r.set_cgroup_path("/bench");
  r.set_action_class("db.read");
  r.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  r.mutable_target()->set_address("127.0.0.1");
  r.mutable_target()->set_port(5432);
  r.set_reason("benchmark");
  return r;
}

struct Run {
  double per_second = 0;
  double p50_us = 0, p99_us = 0;
  uint64_t errors = 0;
};

Run Measure(const std::string& addr, const rpc::ClientTls& tls, int clients,
            std::chrono::milliseconds duration) {
  std::vector<std::unique_ptr<v1::Governor::Stub>> stubs;
  for (int i = 0; i < clients; ++i) {
    stubs.push_back(v1::Governor::NewStub(rpc::MakeGovernorChannel(addr, tls)));
    v1::Decision d;  // warm up: TLS handshake outside the timed window
    grpc::ClientContext ctx;
    stubs.back()->RequestAuthorization(&ctx, Req(), &d);
  }
  std::vector<std::vector<double>> lat(clients);
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> go{false};
  auto end = Clock::now() + duration;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      auto req = Req();
      while (Clock::now() < end) {
        v1::Decision d;
        grpc::ClientContext ctx;
        auto t0 = Clock::now();
        auto s = stubs[i]->RequestAuthorization(&ctx, req, &d);
        auto t1 = Clock::now();
        if (!s.ok() || d.outcome() != v1::OUTCOME_PERMIT || d.tao().empty()) ++errors;
        lat[i].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  }
  auto start = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Run r;
  r.errors = errors;
  if (all.empty()) return r;
  r.per_second = all.size() / secs;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json = bench::JsonPathFromArgs(argc, argv);
  char tmpl[] = "/tmp/taogate-bench-governor-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  fs::path dir = tmpl;
  auto ca = governance::CreateCa("bench CA");
  auto server = governance::IssueCert(
      *ca, governance::ServerSpec("governor", {"localhost"}, {"127.0.0.1"}));
  auto client = governance::IssueCert(*ca, governance::ClientSpec("agent", "spiffe://bench/agent"));
  if (!ca.ok() || !server.ok() || !client.ok()) return 1;
  Write(dir / "ca.crt", ca->cert_pem);
  Write(dir / "server.crt", server->cert_pem);
  Write(dir / "server.key", server->key_pem);
  Write(dir / "policy.yaml", kPolicy);
  int rc = 0;
  bench::Report report;
  // fsync=true is the real configuration; fsync=false shows what durability costs.
  for (bool fsync : {true, false}) {
    Governor g;
    if (!StartGovernor(dir, fsync, &g)) {
      std::cerr << "governor did not start\n";
      rc = 1;
      break;
    }
    rpc::ClientTls tls{ca->cert_pem, client->cert_pem, client->key_pem, ""};
    std::string addr = "127.0.0.1:" + std::to_string(g.port);
    for (int clients : {1, 64}) {
      Run r = Measure(addr, tls, clients, std::chrono::milliseconds(clients == 1 ? 3000 : 5000));
      nlohmann::json params = {{"clients", clients}, {"keys", "software"}, {"fsync", fsync},
                               {"errors", r.errors}, {"cpus", std::thread::hardware_concurrency()}};
      report.Add({"authz_throughput", r.per_second, "req/s", std::nullopt, params});
      report.Add({"authz_p50", r.p50_us, "us", std::nullopt, params});
      report.Add({"authz_p99", r.p99_us, "us", std::nullopt, params});
      if (r.errors) rc = 1;
    }
  }
  if (!report.Emit(json)) rc = 1;
  fs::remove_all(dir);
  return rc;
}
