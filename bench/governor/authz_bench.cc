// End-to-end RequestAuthorization -> TAO over mTLS against a real
// taogate-governor process (software keys, durable ledger with fdatasync
// group commit), with 1 and 64 concurrent clients, each on its own TLS
// connection, with the ledger fdatasync on (the real configuration) and off
// (what durability costs). The governor is the test harness's
// (tests/governance/governor_testing.h) with this file's one-rule policy.
// TG_BENCH_PROFILE=1 runs only 64 clients with fsync, for 10 s (for perf).
// Then the same against the PostgreSQL ledger (issue 18): a real server on
// loopback started here (fsync and synchronous_commit on), 1 and 3 replicas;
// with 3, client i talks to replica i % 3. TG_BENCH_NO_POSTGRES=1 skips it.
// Metrics: authz_throughput (requests/s),
// authz_p50/authz_p99 (us); params say backend, replicas, clients and fsync.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "governance/governor_testing.h"
#include "governor.grpc.pb.h"
#include "report.h"
#include "taogate/pgstore/pg.h"
#include "taogate/rpc/client.h"
#include "testing/postgres.h"

using namespace taogate;
using Clock = std::chrono::steady_clock;

namespace {

using governance::testing::GovernorProcess;
using governance::testing::kAgent;

// One allow rule for kAgent (the test harness's agent identity).
constexpr char kPolicy[] = R"(version: 1
name: bench
roles: [{id: agent}]
actors: [{identity: "spiffe://test.example/agent", roles: [agent]}]
workloads: [{id: w, selectors: {cgroup_paths: [/bench]}}]
targets: [{id: db, networks: [{cidrs: [127.0.0.1/32], ports: [5432], protocols: [tcp]}]}]
action_classes: [{id: db.read, ttl: 60s}]
rules: [{id: r, effect: allow, roles: [agent], workloads: [w], actions: [db.read], targets: [db]}]
)";

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

// CPU seconds (user + system) used so far by process `pid`.
double CpuSecondsOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Run {
  double per_second = 0;
  double cpu_us_per_req = 0;  // governor + clients, CPU time per request
  double governor_cpu_us_per_req = 0;
  double p50_us = 0, p99_us = 0;
  uint64_t errors = 0;
};

// The replicas under test; client i uses replica i % size.
std::vector<GovernorProcess*> g_replicas;

double GovernorsCpu() {
  double s = 0;
  for (GovernorProcess* g : g_replicas) s += CpuSecondsOf(g->pid());
  return s;
}

Run Measure(int clients, std::chrono::milliseconds duration) {
  std::vector<std::unique_ptr<v1::Governor::Stub>> stubs;
  for (int i = 0; i < clients; ++i) {
    GovernorProcess* g = g_replicas[static_cast<size_t>(i) % g_replicas.size()];
    stubs.push_back(v1::Governor::NewStub(rpc::MakeGovernorChannel(g->address(), g->TlsFor(kAgent))));
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
  double gov0 = GovernorsCpu(), cpu0 = gov0 + CpuSecondsOf(getpid());
  go = true;
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  double gov = GovernorsCpu() - gov0;
  double cpu = gov + gov0 + CpuSecondsOf(getpid()) - cpu0;
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Run r;
  r.errors = errors;
  if (all.empty()) return r;
  r.per_second = all.size() / secs;
  r.cpu_us_per_req = cpu * 1e6 / static_cast<double>(all.size());
  r.governor_cpu_us_per_req = gov * 1e6 / static_cast<double>(all.size());
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

void Add(bench::Report& report, const Run& r, nlohmann::json params) {
  // cpu_us_per_req: governor and client CPU per request, what bounds req/s
  // on these cores (cpus / cpu_us_per_req) whatever else runs (PostgreSQL's
  // own CPU is not in it).
  params.update({{"keys", "software"}, {"errors", r.errors}, {"cpus", std::thread::hardware_concurrency()},
                 {"cpu_us_per_req", std::round(r.cpu_us_per_req)},
                 {"governor_cpu_us_per_req", std::round(r.governor_cpu_us_per_req)}});
  report.Add({"authz_throughput", r.per_second, "req/s", std::nullopt, params});
  report.Add({"authz_p50", r.p50_us, "us", std::nullopt, params});
  report.Add({"authz_p99", r.p99_us, "us", std::nullopt, params});
}

std::chrono::milliseconds Duration(bool profile, int clients) {
  return std::chrono::milliseconds(profile ? 10000 : clients == 1 ? 3000 : 5000);
}

}  // namespace

int main(int argc, char** argv) {
  std::string json = bench::JsonPathFromArgs(argc, argv);
  int rc = 0;
  bench::Report report;
  // fsync=true is the real configuration; fsync=false shows what durability costs.
  const bool profile = getenv("TG_BENCH_PROFILE") != nullptr;
  for (bool fsync : {true, false}) {
    if (profile && !fsync) break;
    GovernorProcess g;  // its own dev CA, certificates and temp dir
    taogate::testing::WriteFile(g.policy_path(), kPolicy);
    if (!g.Start(fsync ? std::vector<std::string>{} : std::vector<std::string>{"--no-fsync"})) {
      std::cerr << "governor did not start: " << g.error() << "\n";
      rc = 1;
      break;
    }
    g_replicas = {&g};
    for (int clients : {1, 64}) {
      if (profile && clients != 64) continue;
      Run r = Measure(clients, Duration(profile, clients));
      Add(report, r, {{"backend", "file"}, {"replicas", 1}, {"clients", clients}, {"fsync", fsync}});
      if (r.errors) rc = 1;
    }
  }
  if (!profile && getenv("TG_BENCH_NO_POSTGRES") == nullptr) {
    auto pg = taogate::testing::PostgresServer::Create();
    absl::StatusOr<std::string> db = pg.ok() ? (*pg)->CreateDatabase("bench") : pg.status();
    absl::Status migrated = db.ok() ? pgstore::Migrate(*db).status() : db.status();
    if (!migrated.ok()) {
      std::cerr << "postgresql: " << migrated << "\n";
      rc = 1;
    }
    for (int replicas : {1, 3}) {
      if (!migrated.ok()) break;
      std::vector<std::unique_ptr<GovernorProcess>> gov;
      g_replicas.clear();
      for (int i = 0; i < replicas; ++i) {
        gov.push_back(std::make_unique<GovernorProcess>());
        taogate::testing::WriteFile(gov.back()->policy_path(), kPolicy);
        if (!gov.back()->Start({"--ledger-postgres", *db, "--instance", "bench-" + std::to_string(i)})) {
          std::cerr << "governor replica did not start: " << gov.back()->error() << "\n";
          rc = 1;
          break;
        }
        g_replicas.push_back(gov.back().get());
      }
      if (g_replicas.size() != static_cast<size_t>(replicas)) break;
      for (int clients : {1, 64}) {
        Run r = Measure(clients, Duration(profile, clients));
        Add(report, r, {{"backend", "postgres"}, {"replicas", replicas}, {"clients", clients}, {"fsync", true}});
        if (r.errors) rc = 1;
      }
    }
  }
  if (!report.Emit(json)) rc = 1;
  return rc;
}
