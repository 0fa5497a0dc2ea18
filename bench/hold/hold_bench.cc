// Hold mode's cost (issue 17), all real (root):
//   hold_connect_latency  one connect() by a process under the hold filter to
//                         the protected target, auto-PERMIT: held -> the
//                         agent's Acquire (attest, governor, redeem, grant)
//                         -> CONTINUE -> the gate consumes the grant; params
//                         path=hold. Beside it path=acquire: the same
//                         workload calling Agent.Acquire itself, then
//                         connect(). Same agent, governor and run; p50 in us.
//   seccomp_filter_overhead  getppid() ns under the hold filter / without
//                         it (ratio; interleaved rounds of fresh processes).
// The workloads are this binary re-executed (`--child MODE ...`) inside the
// workload cgroup w0, so no gRPC state crosses a fork.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "acquire_env.h"
#include "report.h"
#include "taogate/agent/client.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"
#include "taogate/hold/filter.h"
#include "taogate/hold/handoff.h"

namespace taogate::bench::hold_bench {
namespace {

constexpr int kWarmup = 5, kIters = 200;

// One connect to 127.0.0.1:port, closed with RST (no TIME_WAIT); 0 or errno.
int ConnectOnce(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  linger l{1, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? 0 : errno;
}

// The workload: prints one latency (us) per timed iteration; exit 1 on error.
int Child(const std::string& mode, const std::string& agent_sock, const std::string& hold_sock, int port) {
  std::unique_ptr<agent::AgentClient> agent;
  if (mode == "hold") {
    auto conn = hold::ConnectSupervisor(hold_sock);
    auto l = conn.ok() ? hold::InstallHoldFilter() : absl::StatusOr<UniqueFd>(conn.status());
    absl::Status st = l.ok() ? hold::SendListener(conn->get(), l->get()) : l.status();
    if (!st.ok()) return std::cerr << "hold: " << st << "\n", 1;
  } else {
    agent = agent::AgentClient::ForSocket(agent_sock);
  }
  for (int i = 0; i < kWarmup + kIters; ++i) {
    uint64_t t0 = MonotonicNs();
    if (agent) {
      v1::AcquireRequest req;
      req.set_target(StrCat("tcp:127.0.0.1:", port));
      req.set_action_class("db.read");
      req.set_reason("benchmark");
      auto r = agent->Acquire(req, false);
      if (!r.ok() || r->phase() != v1::AcquireProgress::GRANTED) return std::cerr << "acquire failed\n", 1;
    }
    if (int e = ConnectOnce(port); e != 0) return std::cerr << mode << " connect: " << strerror(e) << "\n", 1;
    if (i >= kWarmup) std::printf("%.1f\n", (MonotonicNs() - t0) / 1e3);
  }
  return 0;
}

// Runs `--child mode` in workload cgroup `cg`; its samples, sorted.
absl::StatusOr<std::vector<double>> RunChild(const std::string& mode, const acquire::AcquireEnv& env) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  std::string port = std::to_string(env.target->port());
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    if (!bpf::MoveToCgroup(0, env.WorkloadAbs(0)).ok()) _exit(126);
    execl("/proc/self/exe", "taogate-bench-hold", "--child", mode.c_str(), env.agent_socket.c_str(),
          env.hold_socket.c_str(), port.c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return absl::InternalError(StrCat(mode, " workload failed"));
  std::vector<double> v;
  for (size_t p = 0, e; (e = text.find('\n', p)) != std::string::npos; p = e + 1) v.push_back(std::stod(text.substr(p, e - p)));
  std::sort(v.begin(), v.end());
  if (v.empty()) return absl::InternalError("no samples");
  return v;
}

// Mean ns of getppid() in a fresh process, under the hold filter or not.
absl::StatusOr<double> SyscallNs(bool filtered) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    if (filtered && !hold::InstallHoldFilter().ok()) _exit(1);
    constexpr int kN = 2'000'000;
    uint64_t t0 = MonotonicNs();
    for (int i = 0; i < kN; ++i) syscall(SYS_getppid);
    double ns = static_cast<double>(MonotonicNs() - t0) / kN;
    (void)!write(out[1], &ns, sizeof(ns));
    _exit(0);
  }
  close(out[1]);
  double ns = 0;
  ssize_t n = read(out[0], &ns, sizeof(ns));
  close(out[0]);
  waitpid(pid, nullptr, 0);
  if (n != sizeof(ns)) return absl::InternalError("syscall child failed");
  return ns;
}

double P(const std::vector<double>& v, double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; }

int Main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--child") return Child(argv[2], argv[3], argv[4], std::atoi(argv[5]));
  Report report;
  auto best = Interleave(7, [](bool hooked) { return SyscallNs(hooked); });
  if (!best.ok()) return std::cerr << best.status() << "\n", 1;
  report.Add({"seccomp_filter_overhead", best->hooked / best->base, "ratio", std::nullopt,
              {{"syscall", "getppid"}, {"filtered_ns", best->hooked}, {"unfiltered_ns", best->base}}});
  acquire::AcquireEnv env;
  if (absl::Status st = acquire::SetUpAcquireEnv(env, 1); !st.ok()) return std::cerr << st << "\n", 1;
  auto acq = RunChild("acquire", env);
  auto held = RunChild("hold", env);
  if (!acq.ok() || !held.ok()) {
    std::cerr << (acq.ok() ? held.status() : acq.status()) << "\nagent log:\n" << testing::ReadFile(env.agent_log);
    return 1;
  }
  report.Add({"hold_connect_latency", P(*held, 0.5), "us", P(*acq, 0.5),
              {{"path", "hold"}, {"rule", "auto-permit"}, {"p99_us", P(*held, 0.99)}, {"iterations", kIters}}});
  report.Add({"hold_connect_latency", P(*acq, 0.5), "us", std::nullopt,
              {{"path", "acquire"}, {"rule", "auto-permit"}, {"p99_us", P(*acq, 0.99)}, {"iterations", kIters}}});
  return report.Emit(JsonPathFromArgs(argc, argv)) ? 0 : 1;
}

}  // namespace
}  // namespace taogate::bench::hold_bench

int main(int argc, char** argv) { return taogate::bench::hold_bench::Main(argc, argv); }
