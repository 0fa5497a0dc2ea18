// Acquire end to end on loopback (issue 15): workload -> agent (attests it)
// -> governor over the agent's node mTLS -> TAO -> redeem -> kernel grant ->
// connect, with 1, 8 and 64 concurrent workloads, each a real process in its
// own governed workload cgroup running acquire + connect in a loop for a
// fixed time. In the same run, the same workloads take today's two-step
// path (own mTLS certificate -> RequestAuthorization -> Redeem on the agent
// socket -> connect). Everything is real: the taogate-governor binary
// (software keys: DEVELOPMENT ONLY root; ledger fdatasync on), the
// taogate-agent binary with its kernel gate on the bench's own governed
// cgroup (ledger fsync on), a TCP listener on 127.0.0.1 that the governor's
// policy makes a protected target (checked: a connect without a grant is
// refused before anything is measured). See acquire_env.h.
//
// Records: acquire_p50, acquire_p99 (us), acquire_throughput (acquires/s),
// each with the two-step figure as baseline, and acquire_vs_two_step (the
// p50 latency ratio acquire / two-step); params `workloads`.
// TG_BENCH_SECONDS (default 3) sets each timed batch's length;
// TG_BENCH_WORKLOADS (e.g. "64") runs only those configurations and
// TG_BENCH_NOFSYNC=1 turns both ledgers' fdatasync off (diagnosis only).
// Needs root (bpffs, cgroups, BPF); without it prints a note and reports nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "acquire_env.h"
#include "report.h"
#include "workload.h"

using namespace taogate;
using namespace taogate::bench::acquire;

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

std::string Tail(const std::string& s) { return s.size() > 4000 ? s.substr(s.size() - 4000) : s; }

struct Child {
  pid_t pid = -1;
  int go_fd = -1;     // write end of its stdin
  int ready_fd = -1;  // read end of its stdout
  std::string out;
};

// Starts the bench binary as workload `i` in mode `mode` inside its cgroup.
Child Spawn(const AcquireEnv& env, const std::string& self, const std::string& mode, int i, int duration_ms) {
  WorkloadArgs a;
  a.mode = mode;
  a.agent_socket = env.agent_socket;
  a.target_port = env.target->port();
  if (mode == "two-step") {
    a.governor_address = env.governor->address();
    a.ca_file = env.CaFile();
    a.cert_file = env.CertFile(i);
    a.key_file = env.KeyFile(i);
  }
  a.node_id = kNodeId;
  a.cgroup_path = env.WorkloadRel(i);
  a.cgroup_id = env.workload_ids[i];
  a.duration_ms = duration_ms;
  a.out_file = env.tmp + "/" + mode + "-w" + std::to_string(i) + ".bin";
  std::vector<std::string> args = a.ToArgv(self);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string procs = env.WorkloadAbs(i) + "/cgroup.procs";
  Child c;
  c.out = a.out_file;
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return c;
  pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls: the parent has threads
    int fd = open(procs.c_str(), O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(126);
    close(fd);
    dup2(in[0], 0);
    dup2(out[1], 1);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  c.pid = pid;
  c.go_fd = in[1];
  c.ready_fd = out[0];
  return c;
}

// Waits for `pid` up to `timeout_ms`; its exit code, or -1 (killed then).
int Reap(pid_t pid, int timeout_ms) {
  int st = 0;
  for (int i = 0; i < timeout_ms / 10; ++i) {
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (g_stop) break;
    usleep(10'000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

// Until a connect without a grant is refused: the agent has the governor's
// protected targets and the gate enforces them.
bool GateEnforces(const AcquireEnv& env, const std::string& self) {
  for (int attempt = 0; attempt < 150 && !g_stop; ++attempt) {
    Child c = Spawn(env, self, "probe", 0, 0);
    close(c.go_fd);
    close(c.ready_fd);
    if (Reap(c.pid, 10'000) == 0) return true;
    usleep(100'000);
  }
  return false;
}

// CPU time (user + system, all threads, ns) process `pid` has used so far.
int64_t ProcessCpuNs(pid_t pid) {
  std::string stat = taogate::testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t p = stat.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(stat.substr(p + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14 and 15 (1-based)
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return (utime + stime) * (1'000'000'000 / sysconf(_SC_CLK_TCK));
}

struct Result {
  double p50_us = 0, p99_us = 0, per_second = 0;
  int64_t ops = 0, errors = 0;
  // CPU per operation (us) in the timed window: where the time goes.
  double governor_cpu_us = 0, agent_cpu_us = 0, workload_cpu_us = 0;
  bool ok = false;
};

Result Batch(const AcquireEnv& env, const std::string& self, const std::string& mode, int n, int duration_ms) {
  std::vector<Child> kids;
  for (int i = 0; i < n; ++i) kids.push_back(Spawn(env, self, mode, i, duration_ms));
  Result r;
  bool ready = true;
  for (auto& c : kids) {  // warm-up done: each prints "R"
    char b = 0;
    ssize_t got;
    do got = read(c.ready_fd, &b, 1);
    while (got < 0 && errno == EINTR && !g_stop);
    if (got != 1 || b != 'R') ready = false;
  }
  const int64_t gov0 = ProcessCpuNs(env.governor->pid()), agent0 = ProcessCpuNs(env.agent_pid);
  for (auto& c : kids) {
    if (ready && !g_stop) (void)!write(c.go_fd, "g", 1);
    close(c.go_fd);
    close(c.ready_fd);
  }
  bool clean = ready;
  for (auto& c : kids) clean = Reap(c.pid, duration_ms + 60'000) == 0 && clean;
  const int64_t gov_cpu = ProcessCpuNs(env.governor->pid()) - gov0, agent_cpu = ProcessCpuNs(env.agent_pid) - agent0;
  int64_t workload_cpu = 0;
  if (!ready || g_stop) return r;
  std::vector<int64_t> lat;
  int64_t start = INT64_MAX, end = 0;
  for (auto& c : kids) {
    Samples s;
    if (!Samples::Read(c.out, &s)) return r;
    lat.insert(lat.end(), s.latency_ns.begin(), s.latency_ns.end());
    start = std::min(start, s.start_ns);
    end = std::max(end, s.end_ns);
    r.errors += s.errors;
    workload_cpu += s.cpu_ns;
  }
  if (lat.empty() || end <= start) return r;
  std::sort(lat.begin(), lat.end());
  r.ops = static_cast<int64_t>(lat.size());
  r.p50_us = lat[lat.size() / 2] / 1e3;
  r.p99_us = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)] / 1e3;
  r.per_second = lat.size() / ((end - start) / 1e9);
  r.governor_cpu_us = gov_cpu / 1e3 / r.ops;
  r.agent_cpu_us = agent_cpu / 1e3 / r.ops;
  r.workload_cpu_us = workload_cpu / 1e3 / r.ops;
  r.ok = clean && r.errors == 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--workload") {
    WorkloadArgs a;
    if (!WorkloadArgs::Parse(argc, argv, &a)) return 64;
    return RunWorkload(a);
  }
  std::string json = bench::JsonPathFromArgs(argc, argv);
  bench::Report report;
  if (geteuid() != 0) {
    std::cout << "taogate-bench-acquire: needs root (bpffs, cgroups, BPF); skipped\n";
    return report.Emit(json) ? 0 : 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: a blocked read returns EINTR
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return 1;
  self[n] = 0;
  const char* secs = getenv("TG_BENCH_SECONDS");
  const int duration_ms = secs ? std::max(1, std::atoi(secs)) * 1000 : 3000;
  std::vector<int> configs = {1, 8, 64};
  if (const char* w = getenv("TG_BENCH_WORKLOADS")) {  // diagnosis: e.g. "64"
    configs.clear();
    for (const char* p = w; *p;) {
      int v = std::atoi(p);
      if (v >= 1 && v <= 64) configs.push_back(v);
      while (*p && *p != ',') ++p;
      if (*p == ',') ++p;
    }
    if (configs.empty()) return 64;
  }

  int rc = 0;
  {
    AcquireEnv env;  // torn down at the end of this scope, on every path
    if (auto st = SetUpAcquireEnv(env, *std::max_element(configs.begin(), configs.end())); !st.ok()) {
      std::cerr << "taogate-bench-acquire: set-up failed: " << st << "\n";
      return 1;
    }
    std::cout << "taogate-bench-acquire: governor with SOFTWARE keys (development root), fdatasync "
              << (getenv("TG_BENCH_NOFSYNC") ? "OFF (diagnosis)" : "on") << " in the governor and agent ledgers; agent kernel gate on "
              << env.governed_rel << "; target 127.0.0.1:" << env.target->port() << "; " << duration_ms / 1000
              << " s per batch\n";
    if (!GateEnforces(env, self)) {
      std::cerr << "taogate-bench-acquire: a connect without a grant was not refused; agent log:\n"
                << taogate::testing::ReadFile(env.agent_log);
      return 1;
    }
    std::printf("| workloads | acquire p50 | acquire p99 | acquires/s | two-step p50 | two-step p99 | two-step/s | "
                "p50 ratio | CPU us/op acquire (gov+agent+wl) | two-step | load |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int w : configs) {
      // Alternate which path goes first so drift hits both.
      Result a, t;
      if (w == 8) {
        t = Batch(env, self, "two-step", w, duration_ms);
        a = Batch(env, self, "acquire", w, duration_ms);
      } else {
        a = Batch(env, self, "acquire", w, duration_ms);
        t = Batch(env, self, "two-step", w, duration_ms);
      }
      if (g_stop) break;
      if (!a.ok || !t.ok) {
        std::cerr << "taogate-bench-acquire: " << w << " workloads: acquire errors " << a.errors
                  << ", two-step errors " << t.errors << "; agent log tail:\n"
                  << Tail(taogate::testing::ReadFile(env.agent_log));
        rc = 1;
        if (a.ops == 0 || t.ops == 0) continue;
      }
      double load = 0;
      getloadavg(&load, 1);
      auto cpu = [](const Result& r) {
        return nlohmann::json{{"governor", r.governor_cpu_us}, {"agent", r.agent_cpu_us}, {"workload", r.workload_cpu_us}};
      };
      nlohmann::json params = {{"workloads", w}, {"keys", "software"}, {"fsync", getenv("TG_BENCH_NOFSYNC") ? "off" : "governor+agent"},
                               {"acquires", a.ops}, {"two_step_ops", t.ops}, {"errors", a.errors + t.errors},
                               {"cpu_us_per_acquire", cpu(a)}, {"cpu_us_per_two_step", cpu(t)},
                               {"cpus", std::thread::hardware_concurrency()}, {"load_avg", load}};
      report.Add({"acquire_p50", a.p50_us, "us", t.p50_us, params});
      report.Add({"acquire_p99", a.p99_us, "us", t.p99_us, params});
      report.Add({"acquire_throughput", a.per_second, "acquires/s", t.per_second, params});
      report.Add({"acquire_vs_two_step", a.p50_us / t.p50_us, "x", std::nullopt,
                  {{"workloads", w}, {"of", "p50 latency, acquire / two-step"}}});
      std::printf("| %d | %.2f ms | %.2f ms | %.0f | %.2f ms | %.2f ms | %.0f | %.2f | %.0f+%.0f+%.0f | %.0f+%.0f+%.0f | %.1f |\n",
                  w, a.p50_us / 1e3, a.p99_us / 1e3, a.per_second, t.p50_us / 1e3, t.p99_us / 1e3, t.per_second,
                  a.p50_us / t.p50_us, a.governor_cpu_us, a.agent_cpu_us, a.workload_cpu_us, t.governor_cpu_us,
                  t.agent_cpu_us, t.workload_cpu_us, load);
      std::fflush(stdout);
    }
  }
  if (g_stop) {
    std::cerr << "taogate-bench-acquire: interrupted; cleaned up\n";
    return 1;
  }
  if (!report.Emit(json)) rc = 1;
  return rc;
}
