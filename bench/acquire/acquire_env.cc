#include "acquire_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <random>
#include <sstream>

#include "taogate/bpf/gate.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/governance/x509.h"
#include "taogate/keys/trust_bundle.h"
#include "testing/testing.h"

namespace taogate::bench::acquire {
namespace {

using taogate::testing::WriteFile;

constexpr char kTrustDomain[] = "test.example";

std::string NodeIdentity() { return StrCat("spiffe://", kTrustDomain, "/node/", kNodeId); }

std::string Policy(const AcquireEnv& env, int workloads) {
  std::ostringstream p;
  p << "version: 1\nname: bench-acquire\nroles: [{id: tool}]\nactors:\n";
  for (int i = 0; i < workloads; ++i) {
    p << "  - {identity: \"" << NodeIdentity() << "/cgroup" << env.WorkloadRel(i) << "\", roles: [tool]}\n"
      << "  - {identity: \"spiffe://" << kTrustDomain << "/bench/w" << i << "\", roles: [tool]}\n";
  }
  p << "workloads: [{id: bench, selectors: {cgroup_paths: [" << env.governed_rel << "]}}]\n"
    << "targets: [{id: db, networks: [{cidrs: [127.0.0.1/32], ports: [" << env.target->port()
    << "], protocols: [tcp]}]}]\n"
    << "action_classes: [{id: db.read, ttl: 60s}]\n"
    << "rules: [{id: r, effect: allow, roles: [tool], workloads: [bench], actions: [db.read], targets: [db]}]\n"
    << "hold: [{id: h, workloads: [bench], targets: [db], action: db.read}]\n";
  return p.str();
}

// Starts taogate-agent with `config`; waits for READY on its stdout.
absl::StatusOr<pid_t> StartAgent(const std::string& config, const std::string& log) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  std::string bin = taogate::testing::BinPath("taogate-agent");
  int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(log_fd, 2);
    execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  close(log_fd);
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.find("READY") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, n);
  }
  close(out[0]);
  if (got.find("READY") == std::string::npos) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return absl::InternalError("agent did not become ready; log:\n" + taogate::testing::ReadFile(log));
  }
  return pid;
}

}  // namespace

Listener::Listener() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listen(fd_, 4096);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      close(c);
    }
  });
}

Listener::~Listener() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

AcquireEnv::~AcquireEnv() {
  // Best effort, in a destructor: what cannot be removed stays under this
  // bench's own unique names, never another process's.
  if (agent_pid > 0) {
    kill(agent_pid, SIGTERM);
    bool gone = false;
    for (int i = 0; i < 1500 && !gone; ++i) {
      gone = waitpid(agent_pid, nullptr, WNOHANG) == agent_pid;
      if (!gone) usleep(10'000);
    }
    if (!gone) {
      kill(agent_pid, SIGKILL);
      waitpid(agent_pid, nullptr, 0);
    }
  }
  if (!pin_root.empty()) (void)bpf::Gate::Detach(pin_root);
  if (!bpffs.empty()) umount2(bpffs.c_str(), MNT_DETACH);
  governed = bpf::ScopedCgroup();
  governor.reset();
  target.reset();
  std::error_code ec;
  if (!tmp.empty()) std::filesystem::remove_all(tmp, ec);
}

absl::Status SetUpAcquireEnv(AcquireEnv& env, int workloads) {
  TG_ASSIGN_OR_RETURN(env.cgroup2, bpf::Cgroup2Mount());
  std::string t = "/tmp/tg-bench-acquire-XXXXXX";
  if (!mkdtemp(t.data())) return ErrnoStatus(errno, "mkdtemp");
  env.tmp = t;
  std::string fs = t + "/bpffs";
  if (mkdir(fs.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir bpffs");
  if (mount("bpf", fs.c_str(), "bpf", 0, "mode=0700") != 0) return ErrnoStatus(errno, "mount bpffs");
  env.bpffs = fs;
  env.pin_root = fs + "/taogate";
  std::mt19937_64 rng(std::random_device{}());
  env.governed_rel = StrCat("/tg-bench-acquire-", getpid(), "-", rng() % 1'000'000);
  TG_ASSIGN_OR_RETURN(env.governed, bpf::ScopedCgroup::Create(env.cgroup2 + env.governed_rel));
  for (int i = 0; i < workloads; ++i) {
    TG_RETURN_IF_ERROR(bpf::CreateCgroup(env.WorkloadAbs(i)));
    TG_ASSIGN_OR_RETURN(uint64_t id, bpf::CgroupId(env.WorkloadAbs(i)));
    env.workload_ids.push_back(id);
  }
  env.target = std::make_unique<Listener>();

  // The governor: its own dev CA; our policy replaces the harness's.
  env.governor = std::make_unique<governance::testing::GovernorProcess>();
  auto& g = *env.governor;
  WriteFile(g.policy_path(), Policy(env, workloads));
  const bool fsync = getenv("TG_BENCH_NOFSYNC") == nullptr;
  if (!g.Start(fsync ? std::vector<std::string>{} : std::vector<std::string>{"--no-fsync"}))
    return absl::InternalError("governor: " + g.error());
  WriteFile(env.CaFile(), g.ca().cert_pem);
  for (int i = 0; i < workloads; ++i) {
    rpc::ClientTls tls = g.TlsFor(StrCat("spiffe://", kTrustDomain, "/bench/w", i));
    if (tls.cert_pem.empty()) return absl::InternalError("workload certificate");
    WriteFile(env.CertFile(i), tls.cert_pem);
    WriteFile(env.KeyFile(i), tls.key_pem);
  }
  TG_ASSIGN_OR_RETURN(auto node, governance::IssueCert(g.ca(), governance::ClientSpec(kNodeId, NodeIdentity())));
  WriteFile(t + "/node.crt", node.cert_pem);
  WriteFile(t + "/node.key", node.key_pem);
  TG_ASSIGN_OR_RETURN(auto bundle, g.SoftwareTrustBundle());
  WriteFile(t + "/trust.json", keys::TrustBundle::ToJson(bundle.roots()));

  mkdir((t + "/run").c_str(), 0755);
  env.agent_socket = t + "/run/agent.sock";
  env.agent_log = t + "/agent.log";
  env.hold_socket = t + "/run/hold.sock";
  std::string config = t + "/agent.yaml";
  WriteFile(config, StrCat("node_id: ", kNodeId, "\ncgroup2_mount: ", env.cgroup2, "\ngoverned_cgroup: ",
                           env.governed_rel, "\npin_root: ", env.pin_root, "\nledger_dir: ", t,
                           "/ledger\nledger_key: ", t, "/ledger.key\nledger_fsync: ", fsync ? "true" : "false",
                           "\nworkload_socket: ",
                           env.agent_socket, "\noperator_socket: ", t, "/run/operator.sock\ntrust_bundle: ", t,
                           "/trust.json\nstrict_keys: false\nmetrics_port: -1\nlog_level: warn\n",
                           "governor_address: ", g.address(), "\ngovernor_ca: ", env.CaFile(),
                           "\ngovernor_cert: ", t, "/node.crt\ngovernor_key: ", t, "/node.key\n",
                           "governor_server_name: localhost\ntargets_cache: ", t, "/targets.pb\n",
                           "acquire_rate_per_s: 1000000\nacquire_burst: 1000000\n",
                           "acquire_exe_max_bytes: 4294967296\n",
                           "hold_socket: ", env.hold_socket, "\n"));
  TG_ASSIGN_OR_RETURN(env.agent_pid, StartAgent(config, env.agent_log));
  return absl::OkStatus();
}

}  // namespace taogate::bench::acquire
