#include "agent/agent_harness.h"

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

#include <chrono>
#include <fstream>
#include <random>

#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/crypto.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/ledger/ledger.h"
#include "tao/tao_testing.h"

namespace taogate::agent::testing {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string RandomHex(int n) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back("0123456789abcdef"[rng() % 16]);
  return s;
}

// Reads from fd until `until` appears, EOF, or the deadline.
std::string ReadUntil(int fd, const std::string& until, int timeout_ms) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (until.empty() || out.find(until) == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, n);
  }
  return out;
}

bool WaitPid(pid_t pid, int timeout_ms, int* status) {
  for (int i = 0; i < timeout_ms / 10; ++i) {
    if (waitpid(pid, status, WNOHANG) == pid) return true;
    usleep(10'000);
  }
  return false;
}

}  // namespace

std::string WorkloadBin() { return taogate::testing::BinPath("taogate-agent-test-workload"); }

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

Listener::Listener() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listen(fd_, 1024);
  thread_ = std::thread([this] { Loop(); });
}

Listener::~Listener() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

void Listener::Loop() {
  std::vector<int> conns;
  while (!stop_) {
    std::vector<pollfd> ps{{fd_, POLLIN, 0}};
    for (int c : conns) ps.push_back({c, POLLIN, 0});
    if (poll(ps.data(), ps.size(), 20) <= 0) continue;
    if (ps[0].revents & POLLIN) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        ++accepted_;
        conns.push_back(c);
      }
    }
    for (size_t i = 1; i < ps.size(); ++i) {
      if (!(ps[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(ps[i].fd, buf, sizeof(buf));
      if (n > 0) {
        bytes_ += n;
      } else {
        close(ps[i].fd);
        conns.erase(std::find(conns.begin(), conns.end(), ps[i].fd));
      }
    }
  }
  for (int c : conns) close(c);
}

void AgentTest::SetUp() {
  if (geteuid() != 0) GTEST_SKIP() << "kernel tests need root";
  auto mnt = bpf::Cgroup2Mount();
  if (!mnt.ok()) GTEST_SKIP() << "no cgroup v2: " << mnt.status();
  cgroup2_ = *mnt;
  dir_ = std::make_unique<taogate::testing::TempDir>();
  std::string d = dir_->path().string();
  bpffs_ = d + "/bpffs";
  mkdir(bpffs_.c_str(), 0700);
  ASSERT_EQ(mount("bpf", bpffs_.c_str(), "bpf", 0, "mode=0700"), 0) << strerror(errno);
  pin_root_ = bpffs_ + "/taogate";
  governed_rel_ = "/tg-agent-test-" + std::to_string(getpid()) + "-" + RandomHex(6);
  governed_abs_ = cgroup2_ + governed_rel_;
  ASSERT_TRUE(bpf::CreateCgroup(governed_abs_).ok());
  mkdir((d + "/run").c_str(), 0755);
  workload_sock_ = d + "/run/agent.sock";
  operator_sock_ = d + "/run/operator.sock";
  ledger_dir_ = d + "/ledger";
  config_path_ = d + "/agent.yaml";
  agent_log_ = d + "/agent.log";
  mkdir((d + "/taos").c_str(), 0755);

  auto root = keys::SoftwareRootSigner::Generate();
  ASSERT_TRUE(root.ok()) << root.status();
  root_ = std::move(*root);
  keys::IssuingKeyOptions io;
  io.instance = "test-governor";
  io.certificate_lifetime_ms = 10 * 60'000;
  io.rotate_every_ms = 5 * 60'000;
  io.max_tao_lifetime_ms = 2 * 60'000;
  auto issuer = keys::IssuingKeyManager::Create(root_.get(), io);
  ASSERT_TRUE(issuer.ok()) << issuer.status();
  issuer_ = std::move(*issuer);
  taogate::testing::WriteFile(
      d + "/trust.json",
      keys::TrustBundle::ToJson({keys::TrustedRoot{"test-root", root_->public_key(), 0, INT64_MAX, true}}));
  protected_ = std::make_unique<Listener>();
  open_ = std::make_unique<Listener>();
}

void AgentTest::TearDown() {
  if (agent_pid_ > 0) KillAgent();
  // Best-effort teardown: the pins live in this test's own bpffs (unmounted
  // below) and the cgroups under this test's unique root, so nothing that
  // fails to go here can touch another test or process.
  if (!pin_root_.empty()) (void)bpf::Gate::Detach(pin_root_);
  if (!governed_abs_.empty()) (void)bpf::DestroyCgroupTree(governed_abs_);
  if (!bpffs_.empty()) umount2(bpffs_.c_str(), MNT_DETACH);
  protected_.reset();
  open_.reset();
  issuer_.reset();
}

void AgentTest::StartAgent(const std::string& extra_yaml) {
  std::string d = dir_->path().string();
  std::ostringstream y;
  y << "node_id: " << node_id_ << "\n"
    << "cgroup2_mount: " << cgroup2_ << "\n"
    << "governed_cgroup: " << governed_rel_ << "\n"
    << "pin_root: " << pin_root_ << "\n"
    << "ledger_dir: " << ledger_dir_ << "\n"
    << "ledger_key: " << d << "/ledger.key\n"
    << "workload_socket: " << workload_sock_ << "\n"
    << "operator_socket: " << operator_sock_ << "\n"
    << "trust_bundle: " << d << "/trust.json\n"
    << "strict_keys: " << (strict_keys_ ? "true" : "false") << "\n"
    << "metrics_port: " << metrics_port_ << "\n"
    << "denied_flush_ms: 200\n"
    << "protected_targets: [\"tcp:127.0.0.1:" << protected_->port() << "\"";
  for (const auto& t : extra_targets_) y << ", \"" << t << "\"";
  y << "]\n"
    << extra_yaml;
  taogate::testing::WriteFile(config_path_, y.str());
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  std::string bin = taogate::testing::BinPath("taogate-agent");
  int log_fd = open(agent_log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(log_fd, 2);
    execl(bin.c_str(), bin.c_str(), "--config", config_path_.c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  close(log_fd);
  agent_pid_ = pid;
  std::string got = ReadUntil(out[0], "READY", 30'000);
  close(out[0]);
  ready_ = got.find("READY") != std::string::npos;
  if (!ready_) {
    KillAgent();
    FAIL() << "agent did not become ready; log:\n" << taogate::testing::ReadFile(agent_log_);
  }
}

void AgentTest::StopAgent() {
  if (agent_pid_ <= 0) return;
  kill(agent_pid_, SIGTERM);
  int status = 0;
  bool exited = WaitPid(agent_pid_, 15'000, &status);
  if (!exited) {
    kill(agent_pid_, SIGKILL);
    waitpid(agent_pid_, &status, 0);
  }
  agent_pid_ = -1;
  EXPECT_TRUE(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "agent did not stop cleanly; log:\n" << taogate::testing::ReadFile(agent_log_);
}

void AgentTest::KillAgent() {
  if (agent_pid_ <= 0) return;
  kill(agent_pid_, SIGKILL);
  int status = 0;
  waitpid(agent_pid_, &status, 0);
  agent_pid_ = -1;
}

uint64_t AgentTest::MakeWorkload(const std::string& name) {
  std::string p = WorkloadPath(name);
  EXPECT_TRUE(bpf::CreateCgroup(p).ok());
  auto id = bpf::CgroupId(p);
  EXPECT_TRUE(id.ok()) << id.status();
  workloads_[name] = id.ok() ? *id : 0;
  return workloads_[name];
}

WorkloadResult AgentTest::RunIn(const std::string& name, std::vector<std::string> args, int timeout_ms) {
  std::string procs = WorkloadPath(name) + "/cgroup.procs";
  std::string bin = WorkloadBin();
  std::vector<std::string> argv_s = {bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  int out[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(procs.c_str(), O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(126);
    close(fd);
    dup2(out[1], 1);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  WorkloadResult r;
  r.out = ReadUntil(out[0], "", timeout_ms);
  close(out[0]);
  int status = 0;
  if (!WaitPid(pid, 5'000, &status)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

v1::TaoBody AgentTest::Body(uint64_t cgroup_id, int port) const {
  v1::TaoBody b = taogate::testing::ValidTaoBody();  // the issuer sets its key id when signing
  b.mutable_binding()->set_node_id(node_id_);
  b.mutable_binding()->set_cgroup_id(cgroup_id);
  // The path the governor binds: the named workload's cgroup (else the root).
  std::string path = governed_rel_;
  for (const auto& [name, wid] : workloads_)
    if (wid == cgroup_id) path = governed_rel_ + "/" + name;
  b.mutable_binding()->set_workload_path(path);
  b.mutable_target()->set_port(port);
  b.set_not_before_ms(NowMs() - 1'000);
  return b;
}

std::string AgentTest::Sign(const v1::TaoBody& body) const {
  auto tao = issuer_->SignTao(body);
  EXPECT_TRUE(tao.ok()) << tao.status();
  return tao.ok() ? tao->SerializeAsString() : std::string();
}

std::string AgentTest::WriteTao(const std::string& wire) {
  char name[32];
  snprintf(name, sizeof(name), "/taos/%06d.tao", tao_files_++);
  std::string p = dir_->path().string() + name;
  taogate::testing::WriteFile(p, wire);
  return p;
}

std::vector<ledger::Record> AgentTest::LedgerRecords() const {
  ledger::LedgerOptions o;
  o.dir = ledger_dir_;
  o.read_only = true;
  std::vector<ledger::Record> out;
  auto l = ledger::Ledger::Open(o);
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok()) return out;
  EXPECT_TRUE((*l)->Scan(0, [&](const ledger::Record& r) {
    out.push_back(r);
    return true;
  }).ok());
  return out;
}

std::vector<ledger::Record> AgentTest::Find(ledger::RecordKind kind, const std::string& name,
                                            const std::string& value) const {
  std::vector<ledger::Record> out;
  for (auto& r : LedgerRecords()) {
    if (r.kind != kind) continue;
    if (!name.empty() && r.Field(name) != std::optional<std::string_view>(value)) continue;
    out.push_back(r);
  }
  return out;
}

uint64_t AgentTest::Refusals(const std::string& reason_code, uint64_t want, int timeout_ms) const {
  uint64_t n = 0;
  for (int i = 0; i <= timeout_ms / 50; ++i) {
    n = 0;
    for (const auto& r : Find(ledger::RecordKind::kRejected, "reason_code", reason_code)) {
      auto c = r.Field("count");
      n += c ? std::stoull(std::string(*c)) : 1;
    }
    if (n >= want) break;
    usleep(50'000);
  }
  return n;
}

bool AgentTest::WaitFor(ledger::RecordKind kind, const std::string& name, const std::string& value,
                        int timeout_ms) const {
  for (int i = 0; i < timeout_ms / 50; ++i) {
    if (!Find(kind, name, value).empty()) return true;
    usleep(50'000);
  }
  return false;
}

void TwoWorkloadTest::SetUp() {
  AgentTest::SetUp();
  if (IsSkipped() || HasFatalFailure()) return;
  w1_ = MakeWorkload("w1");
  w2_ = MakeWorkload("w2");
  if (start_agent_) StartAgent();
}

}  // namespace taogate::agent::testing
