// Redeem latency and throughput of a real agent (in this process) with 1, 8
// and 64 concurrent workloads, each a separate process in its own governed
// cgroup calling Redeem over the real unix socket; the ledger fsyncs every
// CONSUMED (group commit) before the grant is installed in the real kernel
// map. Every TAO targets its own port so grants never collide.
//
// Needs root (bpffs, cgroups); without it prints a note and reports nothing.
// TG_BENCH_NOFSYNC=1 turns the ledger fsync off (diagnosis only: it shows
// how much of the latency is the disk; reported figures always fsync).
// TG_BENCH_WORKLOADS=64 runs only that configuration (for profiling).
// Workload processes are forked before any thread exists in this process.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "report.h"
#include "tao/tao_testing.h"
#include "taogate/agent/client.h"
#include "taogate/agent/daemon.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/log.h"
#include "taogate/keys/issuing_key.h"
#include "taogate/keys/trust_bundle.h"

namespace fs = std::filesystem;
using namespace taogate;

namespace {

struct Config {
  int workloads;
  int total;  // redeems, spread over the workloads
};
std::vector<Config> Configs() {
  std::vector<Config> all = {{1, 2000}, {8, 4000}, {64, 6400}};
  const char* only = getenv("TG_BENCH_WORKLOADS");
  if (!only) return all;
  std::erase_if(all, [&](const Config& c) { return c.workloads != atoi(only); });
  return all;
}

struct Child {
  pid_t pid = -1;
  int go_fd = -1;  // write end: one byte starts the child
  std::string dir;
};

using taogate::testing::NowMs;

// CPU seconds of this process (the agent) or of its waited-for children (the workloads).
double CpuSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string ReadAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Child: wait for go, redeem every TAO in `dir` in order, write latencies (ns).
[[noreturn]] void RunChild(int go_fd, const std::string& procs, const std::string& dir, const std::string& sock) {
  int fd = open(procs.c_str(), O_WRONLY);
  if (fd < 0 || write(fd, "0", 1) != 1) _exit(3);
  close(fd);
  char b;
  if (read(go_fd, &b, 1) != 1) _exit(0);  // parent gave up
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".tao") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> wires;
  for (const auto& f : files) wires.push_back(ReadAll(f));
  auto client = agent::AgentClient::ForSocket(sock);
  std::vector<int64_t> lat;
  int failures = 0;
  for (const auto& w : wires) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = client->Redeem(w);
    lat.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    if (!r.ok()) {
      if (++failures < 3) std::cerr << "redeem failed: " << r.status() << "\n";
    }
  }
  std::ofstream out(dir + "/lat.bin", std::ios::binary);
  out.write(reinterpret_cast<const char*>(lat.data()), lat.size() * sizeof(int64_t));
  out.close();
  _exit(failures == 0 ? 0 : 4);
}

}  // namespace

int main(int argc, char** argv) {
  std::string json = bench::JsonPathFromArgs(argc, argv);
  bench::Report report;
  auto mnt = bpf::Cgroup2Mount();
  if (geteuid() != 0 || !mnt.ok()) {
    std::cout << "taogate-bench-agent: needs root and cgroup v2; skipped\n";
    return report.Emit(json) ? 0 : 1;
  }
  // Private bpffs, own governed subtree, ledger on the real disk.
  std::string base = (fs::temp_directory_path() / ("tg-bench-agent-" + std::to_string(getpid()))).string();
  fs::create_directories(base + "/bpffs");
  if (mount("bpf", (base + "/bpffs").c_str(), "bpf", 0, "mode=0700") != 0) {
    perror("mount bpffs");
    return 1;
  }
  std::string gov_rel = "/tg-bench-agent-" + std::to_string(getpid());
  std::string gov = *mnt + gov_rel;
  (void)bpf::CreateCgroup(gov);  // may exist; a real failure is caught at CgroupId below
  std::string sock = base + "/agent.sock";

  // Fork every workload process first (no threads exist yet).
  const std::vector<Config> configs = Configs();
  std::vector<std::vector<Child>> children(configs.size());
  for (size_t c = 0; c < configs.size(); ++c) {
    for (int w = 0; w < configs[c].workloads; ++w) {
      Child ch;
      ch.dir = base + "/c" + std::to_string(c) + "w" + std::to_string(w);
      fs::create_directories(ch.dir);
      std::string cg = gov + "/c" + std::to_string(c) + "w" + std::to_string(w);
      (void)bpf::CreateCgroup(cg);  // as above
      int p[2];
      if (pipe(p) != 0) return 1;
      pid_t pid = fork();
      if (pid == 0) {
        close(p[1]);
        RunChild(p[0], cg + "/cgroup.procs", ch.dir, sock);
      }
      close(p[0]);
      ch.pid = pid;
      ch.go_fd = p[1];
      children[c].push_back(ch);
    }
  }

  // Issuer and trust bundle (software root: the agent runs non-strict here).
  auto root = keys::SoftwareRootSigner::Generate();
  keys::IssuingKeyOptions io;
  io.max_tao_lifetime_ms = 5 * 60'000;
  io.certificate_lifetime_ms = 30 * 60'000;
  io.rotate_every_ms = 10 * 60'000;
  auto issuer = keys::IssuingKeyManager::Create(root->get(), io);
  if (!root.ok() || !issuer.ok()) return 1;
  std::ofstream(base + "/trust.json")
      << keys::TrustBundle::ToJson({keys::TrustedRoot{"bench", (*root)->public_key(), 0, INT64_MAX, true}});

  int port = 1024;
  for (size_t c = 0; c < configs.size(); ++c) {
    int per = configs[c].total / configs[c].workloads;
    for (int w = 0; w < configs[c].workloads; ++w) {
      auto id = bpf::CgroupId(gov + "/c" + std::to_string(c) + "w" + std::to_string(w));
      if (!id.ok()) {
        std::cerr << "workload cgroup: " << id.status() << "\n";
        return 1;
      }
      for (int i = 0; i < per; ++i) {
        v1::TaoBody b = testing::ValidTaoBody();
        b.set_actor("spiffe://example.org/agent/bench");
        b.mutable_binding()->set_node_id("bench-node");
        b.mutable_binding()->set_cgroup_id(*id);
        b.mutable_binding()->set_workload_path(gov_rel + "/c" + std::to_string(c) + "w" + std::to_string(w));
        b.mutable_target()->set_address("127.0.0.2");
        b.mutable_target()->set_port(port++ % 64000 + 1024);
        b.set_not_before_ms(NowMs() - 1000);
        b.set_expires_at_ms(NowMs() + 4 * 60'000);
        auto t = (*issuer)->SignTao(b);
        if (!t.ok()) return 1;
        char name[32];
        snprintf(name, sizeof(name), "/%06d.tao", i);
        std::ofstream(children[c][w].dir + name, std::ios::binary) << t->SerializeAsString();
      }
    }
  }

  agent::AgentConfig cfg;
  cfg.node_id = "bench-node";
  cfg.cgroup2_mount = *mnt;
  cfg.governed_cgroup = gov_rel;
  cfg.pin_root = base + "/bpffs/taogate";
  cfg.ledger_dir = base + "/ledger";
  cfg.workload_socket = sock;
  cfg.operator_socket = base + "/operator.sock";
  cfg.trust_bundle = base + "/trust.json";
  cfg.strict_keys = false;
  cfg.metrics_port = -1;
  cfg.protected_targets = {"tcp:127.0.0.2:*"};
  cfg.log_level = "warn";
  cfg.ledger_fsync = getenv("TG_BENCH_NOFSYNC") == nullptr;
  log::SetLevel(log::Level::kWarn);
  auto daemon = agent::AgentDaemon::Start(cfg);
  if (!daemon.ok()) {
    std::cerr << "agent: " << daemon.status() << "\n";
    return 1;
  }

  bool all_ok = true;
  for (size_t c = 0; c < configs.size(); ++c) {
    auto t0 = std::chrono::steady_clock::now();
    double agent0 = CpuSeconds(RUSAGE_SELF), workloads0 = CpuSeconds(RUSAGE_CHILDREN);
    for (auto& ch : children[c]) (void)!write(ch.go_fd, "g", 1);
    for (auto& ch : children[c]) {
      int st = 0;
      waitpid(ch.pid, &st, 0);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) all_ok = false;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double agent_cpu = CpuSeconds(RUSAGE_SELF) - agent0;
    double cpu = agent_cpu + CpuSeconds(RUSAGE_CHILDREN) - workloads0;
    std::vector<int64_t> lat;
    for (auto& ch : children[c]) {
      std::string raw = ReadAll(ch.dir + "/lat.bin");
      size_t n = raw.size() / sizeof(int64_t);
      size_t old = lat.size();
      lat.resize(old + n);
      std::memcpy(lat.data() + old, raw.data(), n * sizeof(int64_t));
    }
    if (lat.empty()) continue;
    std::sort(lat.begin(), lat.end());
    nlohmann::json params = {{"workloads", configs[c].workloads}};
    report.Add({"redeem_p50", lat[lat.size() / 2] / 1e3, "us", std::nullopt, params});
    report.Add({"redeem_p99", lat[lat.size() * 99 / 100] / 1e3, "us", std::nullopt, params});
    // cpu_us_per_redeem: agent and workload CPU per redeem, what bounds
    // redeems/s on these cores (cpus / cpu_us_per_redeem) whatever else runs.
    params["cpu_us_per_redeem"] = std::round(cpu * 1e6 / static_cast<double>(lat.size()));
    params["agent_cpu_us_per_redeem"] = std::round(agent_cpu * 1e6 / static_cast<double>(lat.size()));
    report.Add({"redeem_throughput", lat.size() / secs, "redeems/s", std::nullopt, params});
  }
  (*daemon)->Stop();
  daemon->reset();
  // Cleanup is best effort: the figures are already out.
  (void)bpf::Gate::Detach(cfg.pin_root);
  (void)bpf::DestroyCgroupTree(gov);
  umount2((base + "/bpffs").c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove_all(base, ec);
  if (!all_ok) std::cerr << "taogate-bench-agent: some redeems failed\n";
  return report.Emit(json) && all_ok ? 0 : 1;
}
