// Hold mode end to end with every part real (root): an unmodified
// /usr/bin/python3 runs under `taogatectl run --hold` in a governed
// workload; the real taogate-agent supervises its connects, runs Acquire
// against a real taogate-governor (software keys, mTLS on loopback) and
// lets each connect continue into the real kernel gate, which consumes the
// grant. Outcomes read in the kernel (connects), the program's own errnos
// and the agent's ledger.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/agent_governor.h"
#include "agent/agent_harness.h"
#include "governance/governor_testing.h"
#include "testing/http.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/hold/filter.h"
#include "taogate/hold/handoff.h"
#include "hold/oci_testing.h"

namespace taogate::agent::testing {
namespace {

namespace gt = governance::testing;
using ledger::RecordKind;

// Connects to 127.0.0.1:<each port> in turn and prints the outcome; with
// THREADS=n, n threads connect to the first port at once.
constexpr char kConnectScript[] = R"(import socket, errno, sys, os, threading
out = threading.Lock()
def connect(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(port)))
        line = "CONNECT OK %s" % port
    except OSError as e:
        line = "CONNECT ERR %s %s" % (errno.errorcode.get(e.errno, e.errno), port)
    s.close()
    with out:
        print(line, flush=True)
n = int(os.environ.get("THREADS", "0"))
if n:
    ts = [threading.Thread(target=connect, args=(sys.argv[1],)) for _ in range(n)]
    [t.start() for t in ts]
    [t.join() for t in ts]
else:
    for port in sys.argv[1:]:
        connect(port)
)";

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// A loopback HTTP server answering every request "200 ok" (curl's peer).
class HttpOk {
 public:
  HttpOk() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "http listener: " << strerror(errno);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;  // shut down
        char buf[4096];
        std::string req;
        for (ssize_t n; req.find("\r\n\r\n") == std::string::npos && (n = read(c, buf, sizeof(buf))) > 0;)
          req.append(buf, static_cast<size_t>(n));
        constexpr char kOk[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        (void)!write(c, kOk, sizeof(kOk) - 1);
        close(c);
        ++served_;
      }
    });
  }
  ~HttpOk() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int served() const { return served_.load(); }

 private:
  int fd_ = -1, port_ = 0;
  std::atomic<int> served_{0};
  std::thread thread_;
};

class HoldE2eKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!hold::HoldSupported()) GTEST_SKIP() << "no seccomp user notification";
    metrics_port_ = FreePort();
    python_ = std::filesystem::canonical("/usr/bin/python3").string();
    MakeWorkload("w1");
    denied_ = std::make_unique<Listener>();
    slow_ = std::make_unique<Listener>();
    unheld_ = std::make_unique<Listener>();
    web_ = std::make_unique<HttpOk>();
    ctl_ = std::filesystem::canonical(taogate::testing::BinPath("taogatectl")).string();
    gov_ = std::make_unique<gt::GovernorProcess>();
    taogate::testing::WriteFile(gov_->policy_path(), Policy());
    ASSERT_TRUE(gov_->Start()) << gov_->error();
    auto conn = ConnectToGovernor(*gov_, dir_->path().string(), node_id_);
    ASSERT_TRUE(conn.ok()) << conn.status();
    std::string d = dir_->path().string();
    hold_sock_ = d + "/hold.sock";
    taogate::testing::WriteFile(d + "/connect.py", kConnectScript);
    extra_targets_ = {StrCat("tcp:127.0.0.1:", denied_->port()), StrCat("tcp:127.0.0.1:", slow_->port()),
                      StrCat("tcp:127.0.0.1:", unheld_->port()), StrCat("tcp:127.0.0.1:", web_->port())};
    StartAgent(StrCat(*conn, "hold_socket: ", hold_sock_, "\nhold_max_ms: ", hold_max_ms_, "\n"));
  }
  void TearDown() override {
    if (agent_running()) KillAgent();
    gov_.reset();
    AgentTest::TearDown();
  }

  std::string W1() const { return governed_rel_ + "/w1"; }
  // python3 in w1 may connect to db (auto-PERMIT); db-denied has no rule
  // (DENY); db-slow needs an approval nobody gives (held until hold_max_ms).
  std::string Policy() const {
    return StrCat(R"(version: 1
name: hold-e2e
roles:
  - id: tool
  - id: dba
actors:
  - identity: )", gt::kAlice, R"(
    roles: [dba]
    approver_keys: [)", ToHex(gov_->ApproverPublicKeys().at(gt::kAlice)), R"(]
  - identity: spiffe://test.example/node/)", node_id_, "/cgroup", W1(), R"(
    roles: [tool]
  - identity: spiffe://test.example/node/)", node_id_, "/cgroup", governed_rel_, R"(/c1
    roles: [tool]
workloads:
  - id: container
    selectors:
      cgroup_paths: [)", governed_rel_, R"(/c1]
  - id: script
    selectors:
      cgroup_paths: [)", W1(), R"(]
      exe_paths: [)", python_, R"(]
  - id: curl
    selectors:
      cgroup_paths: [)", W1(), R"(]
      exe_paths: [/usr/bin/curl]
  - id: anything-in-w1
    selectors:
      cgroup_paths: [)", W1(), R"(]
targets:
  - id: db
    networks: [{cidrs: [127.0.0.1/32], ports: [)", protected_->port(), R"(], protocols: [tcp]}]
  - id: db-denied
    networks: [{cidrs: [127.0.0.1/32], ports: [)", denied_->port(), R"(], protocols: [tcp]}]
  - id: db-slow
    networks: [{cidrs: [127.0.0.1/32], ports: [)", slow_->port(), R"(], protocols: [tcp]}]
  - id: db-unheld
    networks: [{cidrs: [127.0.0.1/32], ports: [)", unheld_->port(), R"(], protocols: [tcp]}]
  - id: web
    networks: [{cidrs: [127.0.0.1/32], ports: [)", web_->port(), R"(], protocols: [tcp]}]
action_classes:
  - {id: connect, ttl: 60s}
rules:
  - {id: script-connects, effect: allow, roles: [tool], workloads: [script, container], actions: [connect], targets: [db, db-unheld]}
  - {id: anything-connects, effect: allow, roles: [tool], workloads: [anything-in-w1], actions: [connect], targets: [db]}
  - {id: curl-fetches, effect: allow, roles: [tool], workloads: [curl], actions: [connect], targets: [web]}
  - id: script-slow
    effect: require_approval
    roles: [tool]
    workloads: [script]
    actions: [connect]
    targets: [db-slow]
    approval: {roles: [dba], count: 1}
# Held: python3 and curl in w1, busybox in c1; db-unheld is allowed but not
# held (a connect to it without a grant is refused at once).
hold:
  - {id: script-held, workloads: [script, container], targets: [db, db-denied, db-slow], action: connect, max_hold: )",
                  script_max_hold_, R"(}
  - {id: curl-held, workloads: [curl], targets: [web], action: connect}
)");
  }

  // The unmodified program, held, connecting to each port in turn.
  taogate::testing::CommandResult PythonConnects(const std::vector<int>& ports, bool hold = true) {
    std::vector<std::string> argv = {"/usr/bin/env", StrCat("THREADS=", threads_), ctl_, "run", "--workload", "w1", "--governed-root", governed_abs_};
    if (hold) argv.insert(argv.end(), {"--hold", "--hold-socket", hold_sock_});
    argv.insert(argv.end(), {"--", python_, dir_->path().string() + "/connect.py"});
    for (int p : ports) argv.push_back(std::to_string(p));
    return taogate::testing::RunCommand(argv);
  }

  // The HOLD records of the node ledger (one per held call that reached a rule).
  std::vector<ledger::Record> Holds(size_t want) const {
    for (int i = 0; i < 100 && Find(RecordKind::kHold).size() < want; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    return Find(RecordKind::kHold);
  }

  int64_t hold_max_ms_ = 1500;
  std::string script_max_hold_ = "30s";
  int threads_ = 0;
  std::string python_, ctl_, hold_sock_;
  std::unique_ptr<Listener> denied_, slow_, unheld_;
  std::unique_ptr<HttpOk> web_;
  std::unique_ptr<gt::GovernorProcess> gov_;
};

TEST_F(HoldE2eKernelTest, UnmodifiedProgramConnectsAfterOneHoldAndEachConnectNeedsItsOwnTao) {
  auto r = PythonConnects({protected_->port(), protected_->port()});
  EXPECT_EQ(Count(r.out, "CONNECT OK"), 2u) << r.out;
  EXPECT_EQ(protected_->accepted(), 2);
  auto consumed = Find(RecordKind::kConsumed);
  ASSERT_EQ(consumed.size(), 2u);  // two holds, two TAOs, each consumed once
  EXPECT_NE(consumed[0].Field("tao_id"), consumed[1].Field("tao_id"));
  // Each hold ends in its own HOLD record: the decision, the outcome, how long.
  auto holds = Holds(2);
  ASSERT_EQ(holds.size(), 2u);
  for (const auto& h : holds) {
    EXPECT_EQ(h.Field("verdict"), "CONTINUE");
    EXPECT_EQ(h.Field("reason_code"), "GRANTED");
    EXPECT_EQ(h.Field("rule"), "script-held");
    EXPECT_EQ(h.Field("action_class"), "connect");
    EXPECT_EQ(h.Field("target"), StrCat("tcp:127.0.0.1:", protected_->port()));
    EXPECT_EQ(h.Field("exe"), python_);
    EXPECT_EQ(h.Field("workload"), W1());
    EXPECT_EQ(h.Field("decision_id").value_or("").size(), 32u);
    EXPECT_TRUE(h.Field("held_ms").has_value());
  }
  EXPECT_NE(holds[0].Field("decision_id"), holds[1].Field("decision_id"));
}

// An unmodified curl, held, fetches from a loopback HTTP server once its
// TAO is granted; the same curl without hold mode is refused by the gate.
TEST_F(HoldE2eKernelTest, UnmodifiedCurlFetchesAfterOneHold) {
  if (access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/curl";
  auto curl = [&](bool hold) {
    std::vector<std::string> argv = {ctl_, "run", "--workload", "w1", "--governed-root", governed_abs_};
    if (hold) argv.insert(argv.end(), {"--hold", "--hold-socket", hold_sock_});
    argv.insert(argv.end(), {"--", "/usr/bin/curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                             "HTTP %{http_code}\n", StrCat("http://127.0.0.1:", web_->port(), "/")});
    return taogate::testing::RunCommand(argv);
  };
  auto refused = curl(false);
  EXPECT_EQ(refused.out.find("HTTP 200"), std::string::npos) << refused.out << refused.err;
  EXPECT_EQ(web_->served(), 0);
  auto r = curl(true);
  EXPECT_NE(r.out.find("HTTP 200"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(web_->served(), 1);
  auto holds = Holds(1);
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_EQ(holds[0].Field("exe"), "/usr/bin/curl");
  EXPECT_EQ(holds[0].Field("rule"), "curl-held");
  EXPECT_EQ(Find(RecordKind::kConsumed).size(), 1u);
}

// Hold mode is per workload and target, as the bundle says: a connect no
// hold rule covers (db-unheld: allowed by policy, not held; python3 is held
// only for db, db-denied and db-slow) is not held -- the gate refuses it at
// once, no TAO is asked for. busybox in w1 is in no hold rule at all.
TEST_F(HoldE2eKernelTest, WhatNoHoldRuleCoversIsRefusedAtOnceWithoutAnAcquire) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = PythonConnects({unheld_->port()});
  EXPECT_EQ(Count(r.out, "CONNECT ERR EPERM"), 1u) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1400));  // not held to the max
  auto nc = taogate::testing::RunCommand({ctl_, "run", "--workload", "w1", "--governed-root", governed_abs_, "--hold",
                                          "--hold-socket", hold_sock_, "--", "/bin/busybox", "nc", "-w", "3",
                                          "127.0.0.1", std::to_string(protected_->port())});
  EXPECT_NE(nc.exit_code, 0) << nc.out << nc.err;
  EXPECT_EQ(unheld_->accepted(), 0);
  EXPECT_EQ(protected_->accepted(), 0);
  EXPECT_TRUE(Find(RecordKind::kConsumed).empty());
  EXPECT_TRUE(Find(RecordKind::kHold).empty());
  EXPECT_NE(taogate::testing::HttpGet(metrics_port_, "/metrics").find("taogate_agent_holds_not_held_total 2"),
            std::string::npos)
      << taogate::testing::HttpGet(metrics_port_, "/metrics");
}

TEST_F(HoldE2eKernelTest, WithoutHoldTheSameProgramIsRefused) {
  auto r = PythonConnects({protected_->port()}, /*hold=*/false);
  EXPECT_EQ(Count(r.out, "CONNECT ERR EPERM"), 1u) << r.out;
  EXPECT_EQ(protected_->accepted(), 0);
}

TEST_F(HoldE2eKernelTest, DeniedIsEaccesAndNothingIsGranted) {
  auto r = PythonConnects({denied_->port()});
  EXPECT_EQ(Count(r.out, StrCat("CONNECT ERR EACCES ", denied_->port())), 1u) << r.out;
  EXPECT_EQ(denied_->accepted(), 0);
  EXPECT_TRUE(Find(RecordKind::kConsumed).empty());
  auto holds = Holds(1);
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_EQ(holds[0].Field("verdict"), "EACCES");
  EXPECT_EQ(holds[0].Field("reason_code"), "DENIED");
  EXPECT_EQ(holds[0].Field("decision_id").value_or("").size(), 32u);
}

TEST_F(HoldE2eKernelTest, ApprovalNeverGivenIsEtimedoutAfterTheMaxHold) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = PythonConnects({slow_->port()});
  EXPECT_EQ(Count(r.out, "CONNECT ERR ETIMEDOUT"), 1u) << r.out;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1400));
  EXPECT_EQ(slow_->accepted(), 0);
  auto holds = Holds(1);
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_EQ(holds[0].Field("verdict"), "ETIMEDOUT");
}

// The rule's max_hold bounds the hold below the node's ceiling.
class HoldRuleMaxTest : public HoldE2eKernelTest {
 protected:
  HoldRuleMaxTest() {
    hold_max_ms_ = 60'000;
    script_max_hold_ = "1s";
  }
};

TEST_F(HoldRuleMaxTest, TheRulesMaxHoldEndsTheHoldWithEtimedout) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = PythonConnects({slow_->port()});
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(Count(r.out, "CONNECT ERR ETIMEDOUT"), 1u) << r.out;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(20'000));  // nowhere near the node's 60 s
  EXPECT_EQ(slow_->accepted(), 0);
}

class HoldApprovalTest : public HoldE2eKernelTest {
 protected:
  HoldApprovalTest() { hold_max_ms_ = 30'000; }
  // The decision id of the first pending hold (the agent logs it); "" if none.
  std::string PendingHoldDecision() {
    for (int i = 0; i < 200; ++i) {
      std::string log = taogate::testing::ReadFile(agent_log_);
      size_t at = log.find("\"msg\":\"hold awaiting approval\"");
      size_t key = at == std::string::npos ? at : log.find("\"decision_id\":\"", at);
      if (key != std::string::npos && key + 47 < log.size()) return log.substr(key + 15, 32);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
  }
  // Alice approves decision `id` with `taogatectl authz approve`, as an
  // approver would: her client certificate and her approver key (PEM).
  void Approve(const std::string& id) {
    const std::string g = gov_->dir().string();
    auto cert = taogate::testing::RunCommand({ctl_, "certs", "client", g, "--uri", gt::kAlice, "--name", "alice"});
    ASSERT_EQ(cert.exit_code, 0) << cert.err;
    taogate::testing::WriteFile(g + "/alice.pem", *gov_->ApproverKey(gt::kAlice).ToPem());
    auto r = taogate::testing::RunCommand({ctl_, "authz", "approve", id, "--approver-key", g + "/alice.pem",
                                           "--governor", gov_->address(), "--ca", g + "/ca.crt", "--cert",
                                           g + "/alice.crt", "--key", g + "/alice.key"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
};

// Held while a human decides: the agent logs the decision id, the approver
// approves it at the governor, the held connect then continues.
TEST_F(HoldApprovalTest, HeldUntilApprovedThenConnects) {
  auto run = std::async(std::launch::async, [&] { return PythonConnects({slow_->port()}); });
  std::string id = PendingHoldDecision();
  ASSERT_EQ(id.size(), 32u) << taogate::testing::ReadFile(agent_log_);
  EXPECT_EQ(slow_->accepted(), 0);  // still held
  // `agent status` shows the held call and the decision to approve.
  auto status = Operator()->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->hold().held_size(), 1) << status->DebugString();
  EXPECT_EQ(status->hold().held(0).decision_id(), id);
  EXPECT_EQ(status->hold().held(0).target(), StrCat("tcp:127.0.0.1:", slow_->port()));
  EXPECT_EQ(status->hold().held(0).rule(), "script-held");
  EXPECT_EQ(status->hold().held(0).workload(), W1());
  EXPECT_EQ(status->hold().held_now(), 1u);
  EXPECT_EQ(status->hold().rules(), 2u);
  bool row = false;
  for (const auto& c : status->capabilities()) row |= c.capability() == "hold" && c.state() == "enforcing";
  EXPECT_TRUE(row) << status->DebugString();
  Approve(id);
  auto r = run.get();
  EXPECT_EQ(Count(r.out, "CONNECT OK"), 1u) << r.out;
  EXPECT_EQ(slow_->accepted(), 1);
}

// The supervisor reads the sockaddr only to choose what to ask for: a
// program that swaps it in another thread while held (to another protected
// target) gets the grant it asked for, and the gate -- which reads the real
// sockaddr when the call continues -- refuses the swapped destination.
TEST_F(HoldApprovalTest, SockaddrSwappedWhileHeldStillMeetsTheGate) {
  taogate::testing::WriteFile(dir_->path().string() + "/swap.py", StrCat(R"(import ctypes, socket, struct, threading, time
libc = ctypes.CDLL(None, use_errno=True)
addr = ctypes.create_string_buffer(struct.pack("=H", socket.AF_INET) + struct.pack("!H", )", slow_->port(),
                                                                      R"() + socket.inet_aton("127.0.0.1") + bytes(8), 16)
def swap():
    time.sleep(0.3)
    ctypes.memmove(ctypes.addressof(addr) + 2, struct.pack("!H", )", denied_->port(), R"(), 2)
    print("SWAPPED", flush=True)
threading.Thread(target=swap).start()
s = socket.socket()
rc = libc.connect(s.fileno(), addr, 16)
print("RC", rc, "ERRNO", ctypes.get_errno(), flush=True)
)"));
  auto run = std::async(std::launch::async, [&] {
    return taogate::testing::RunCommand({ctl_, "run", "--workload", "w1", "--governed-root", governed_abs_, "--hold",
                                         "--hold-socket", hold_sock_, "--", python_,
                                         dir_->path().string() + "/swap.py"});
  });
  std::string id = PendingHoldDecision();
  ASSERT_EQ(id.size(), 32u) << taogate::testing::ReadFile(agent_log_);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the swap happened while held
  Approve(id);
  auto r = run.get();
  EXPECT_NE(r.out.find("SWAPPED"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find(StrCat("RC -1 ERRNO ", EPERM)), std::string::npos) << r.out << r.err;  // the gate's refusal
  EXPECT_EQ(denied_->accepted(), 0);
  EXPECT_EQ(slow_->accepted(), 0);
}

TEST_F(HoldE2eKernelTest, UnprotectedTargetContinuesAtOnce) {
  auto r = PythonConnects({open_->port()});
  EXPECT_EQ(Count(r.out, "CONNECT OK"), 1u) << r.out;
  EXPECT_EQ(open_->accepted(), 1);
  EXPECT_TRUE(Find(RecordKind::kConsumed).empty());
}

TEST_F(HoldE2eKernelTest, ListenerFromOutsideAGovernedWorkloadIsRefused) {
  // This test process is not in a governed workload: the agent says no.
  auto conn = hold::ConnectSupervisor(hold_sock_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);  // any fd: the peer check comes first
  absl::Status st = hold::SendListener(conn->get(), fds[0]);
  close(fds[0]);
  close(fds[1]);
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_NE(st.message().find("not a governed workload"), std::string::npos) << st;
}

// Held calls outlive no agent: 16 threads held (approval pending), the agent
// SIGKILLed -> all 16 fail (ENOSYS: the listener died with it), none connects.
class HoldAgentKilledTest : public HoldE2eKernelTest {
 protected:
  HoldAgentKilledTest() { hold_max_ms_ = 60'000; }
};

TEST_F(HoldAgentKilledTest, SixteenHeldConnectsAllFailNonePasses) {
  threads_ = 16;
  auto run = std::async(std::launch::async, [&] { return PythonConnects({slow_->port()}); });
  bool held = false;
  for (int i = 0; i < 300 && !held; ++i) {
    held = taogate::testing::HttpGet(metrics_port_, "/metrics").find("taogate_agent_holds_held 16") != std::string::npos;
    if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(held) << taogate::testing::HttpGet(metrics_port_, "/metrics");
  EXPECT_TRUE(taogate::testing::UndocumentedSamples(taogate::testing::HttpGet(metrics_port_, "/metrics")).empty());
  KillAgent();
  auto r = run.get();
  EXPECT_EQ(Count(r.out, "CONNECT ERR ENOSYS"), 16u) << r.out << r.err;
  EXPECT_EQ(Count(r.out, "CONNECT OK"), 0u) << r.out;
  EXPECT_EQ(slow_->accepted(), 0);
}

// A container started by a real runc (or crun) with the notify profile of
// docs/hold.md: the runtime hands the listener to the agent's hold socket
// (listenerPath); busybox nc inside the governed cgroup c1 is held, then
// connects once the agent has acquired for it; the denied target fails.
class HoldContainerTest : public HoldE2eKernelTest {
 protected:
  // `runtime` (runc or crun, an absolute path) runs busybox nc in c1.
  void ContainerIsHeldThenConnects(const std::string& runtime) {
    if (access(runtime.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << runtime;
    const std::string sh = StrCat(
        "for p in ", protected_->port(), " ", denied_->port(),
        "; do if /bin/busybox nc -w 5 127.0.0.1 $p </dev/null; then echo CONNECT OK $p; else echo CONNECT FAILED $p; fi; done");
    auto r = hold::testing::RunHeldContainer(runtime, dir_->path().string(), governed_rel_ + "/c1", hold_sock_, sh);
    EXPECT_EQ(Count(r.out, StrCat("CONNECT OK ", protected_->port())), 1u) << r.out << r.err;
    EXPECT_EQ(Count(r.out, StrCat("CONNECT FAILED ", denied_->port())), 1u) << r.out << r.err;
    EXPECT_EQ(protected_->accepted(), 1);
    EXPECT_EQ(denied_->accepted(), 0);
    EXPECT_EQ(Find(RecordKind::kConsumed).size(), 1u);
    EXPECT_NE(taogate::testing::ReadFile(agent_log_).find("oci-runtime"), std::string::npos);
  }
};

TEST_F(HoldContainerTest, RuncWithTheNotifyProfileIsHeldThenConnects) { ContainerIsHeldThenConnects("/usr/sbin/runc"); }

TEST_F(HoldContainerTest, CrunWithTheNotifyProfileIsHeldThenConnects) {
  if (cgroup2_ != "/sys/fs/cgroup") GTEST_SKIP() << "crun refuses hybrid cgroup v1/v2 hosts";
  ContainerIsHeldThenConnects("/usr/bin/crun");
}

}  // namespace
}  // namespace taogate::agent::testing
