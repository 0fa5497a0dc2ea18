// DNS name targets end to end with every part real (root): a real dnsmasq
// on loopback answers for tg.test and the test changes its answers; a real
// taogate-governor protects names in its bundle (hosts:) and signs named
// TAOs; the real taogate-agent resolves the names itself, keeps the kernel
// gate's maps equal to the current answers and redeems a named TAO into one
// grant set over the name's addresses. Each test is an attack or a change,
// checked with real connects from a governed workload to listeners on
// 127.0.0.2-127.0.0.6 (all loopback), the agent's status and its ledger.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "agent/agent_governor.h"
#include "agent/agent_harness.h"
#include "dns/dns_testing.h"
#include "governance/governor_testing.h"
#include "taogate/common/strings.h"

namespace taogate::agent::testing {
namespace {

namespace gt = governance::testing;
using ledger::RecordKind;

// A listening socket on ip:port (the kernel completes connects from the
// backlog; nothing needs to accept them).
class Listening {
 public:
  Listening(const char* ip, int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, ip, &a.sin_addr);
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(fd_, 64) == 0;
  }
  ~Listening() { close(fd_); }
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

class NamesKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    MakeWorkload("w1");
    port_ = FreePort();
    for (const char* ip : {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
      listeners_.push_back(std::make_unique<Listening>(ip, port_));
      ASSERT_TRUE(listeners_.back()->ok()) << ip;
    }
    // db: two addresses; other: a name the workload holds no TAO for.
    std::filesystem::create_directories(dir_->path() / "dns");
    dns_ = std::make_unique<dns::testing::Dnsmasq>(dir_->path() / "dns",
                                                   "127.0.0.2 db.tg.test\n127.0.0.5 db.tg.test\n"
                                                   "127.0.0.3 other.tg.test\n");
    ctl_ = std::filesystem::canonical(taogate::testing::BinPath("taogatectl")).string();
    gov_ = std::make_unique<gt::GovernorProcess>();
    taogate::testing::WriteFile(gov_->policy_path(), Policy());
    ASSERT_TRUE(gov_->Start()) << gov_->error();
    auto conn = ConnectToGovernor(*gov_, dir_->path().string(), node_id_);
    ASSERT_TRUE(conn.ok()) << conn.status();
    StartAgent(StrCat(*conn, "dns:\n  servers: [", dns_->server(),
                      "]\n  ttl_floor_s: 1\n  retry_max_s: 1\n"));
    ASSERT_TRUE(WaitForAddresses("db.tg.test", {"127.0.0.2", "127.0.0.5"})) << StatusText();
    ASSERT_TRUE(WaitForAddresses("other.tg.test", {"127.0.0.3"})) << StatusText();
  }
  void TearDown() override {
    if (agent_running()) KillAgent();
    gov_.reset();
    dns_.reset();
    AgentTest::TearDown();
  }

  std::string W1() const { return governed_rel_ + "/w1"; }
  std::string Policy() const {
    return StrCat(R"(version: 1
name: names-e2e
roles:
  - id: tool
actors:
  - identity: spiffe://test.example/node/)", node_id_, "/cgroup", W1(), R"(
    roles: [tool]
workloads:
  - id: reporter
    selectors:
      cgroup_paths: [)", W1(), R"(]
targets:
  - id: db
    networks: [{hosts: [db.tg.test], ports: [)", port_, R"(], protocols: [tcp]}]
  - id: other
    networks: [{hosts: [other.tg.test], ports: [)", port_, R"(], protocols: [tcp]}]
action_classes:
  - {id: db.read, ttl: 60s}
rules:
  - {id: reporter-reads, effect: allow, roles: [tool], workloads: [reporter], actions: [db.read], targets: [db, other]}
)");
  }

  std::string StatusText() {
    auto st = Operator()->Status();
    return st.ok() ? st->DebugString() : std::string(st.status().message());
  }
  std::vector<std::string> Addresses(const std::string& name, bool* stale = nullptr) {
    auto st = Operator()->Status();
    if (!st.ok()) return {};
    for (const auto& n : st->names()) {
      if (n.name() != name) continue;
      if (stale) *stale = n.stale();
      return {n.addresses().begin(), n.addresses().end()};
    }
    return {};
  }
  bool WaitForAddresses(const std::string& name, const std::vector<std::string>& want) {
    return dns::testing::Eventually([&] { return Addresses(name) == want; }, std::chrono::seconds(15));
  }

  // Inside w1, in order: each step is "acquire NAME" (taogatectl acquire
  // tcp:NAME:port, db.read) or "connect IP" (prints CONNECT OK / ERR).
  std::string Run(const std::vector<std::string>& steps) {
    std::string d = dir_->path().string(), script;
    for (const auto& s : steps) {
      if (s.starts_with("acquire ")) {
        script += StrCat(ctl_, " acquire tcp:", s.substr(8), ":", port_,
                         " --action db.read --reason names --timeout-ms 20000 --socket ", workload_sock_,
                         " >", d, "/acquire.out 2>&1; echo ACQUIRE RC=$?; cat ", d, "/acquire.out\n");
      } else {
        script += StrCat("echo STEP ", s, "; ", WorkloadBin(), " connect ", s.substr(8), " ", port_, "\n");
      }
    }
    taogate::testing::WriteFile(d + "/script.sh", script);
    return RunIn("w1", {"exec", "/bin/sh", d + "/script.sh"}, 60'000).out;
  }
  // The outcome line of each connect step, in order ("OK" / "ERR EPERM").
  static std::vector<std::string> Connects(const std::string& out) {
    std::vector<std::string> v;
    for (size_t p = out.find("CONNECT "); p != std::string::npos; p = out.find("CONNECT ", p + 1)) {
      size_t e = out.find('\n', p);
      v.push_back(out.substr(p + 8, e - p - 8));
    }
    return v;
  }
  std::vector<ledger::Record> NameRecords(const std::string& name) {
    std::vector<ledger::Record> out;
    for (const auto& r : Find(RecordKind::kPolicyActivated, "event", "name_addresses"))
      if (r.Field("target") == name) out.push_back(r);
    return out;
  }

  int port_ = 0;
  std::string ctl_;
  std::vector<std::unique_ptr<Listening>> listeners_;
  std::unique_ptr<dns::testing::Dnsmasq> dns_;
  std::unique_ptr<gt::GovernorProcess> gov_;
};

TEST_F(NamesKernelTest, ANamedGrantCoversEveryAddressOfTheNameAndIsSpentByTheFirstConnect) {
  std::string out = Run({"connect 127.0.0.2", "acquire db.tg.test", "connect 127.0.0.5", "connect 127.0.0.2",
                         "connect 127.0.0.5"});
  EXPECT_NE(out.find("ACQUIRE RC=0"), std::string::npos) << out;
  EXPECT_EQ(Connects(out), (std::vector<std::string>{"ERR EPERM", "OK", "ERR EPERM", "ERR EPERM"})) << out;
  auto consumed = Find(RecordKind::kConsumed);
  ASSERT_EQ(consumed.size(), 1u);
  EXPECT_EQ(consumed[0].Field("target"), StrCat("tcp:db.tg.test:", port_));
  ASSERT_TRUE(WaitFor(RecordKind::kExercised, "tao_id", std::string(*consumed[0].Field("tao_id"))));
  // Each name's first answer is on the ledger.
  ASSERT_FALSE(NameRecords("db.tg.test").empty());
  EXPECT_EQ(NameRecords("db.tg.test")[0].Field("added"), "127.0.0.2,127.0.0.5");
}

TEST_F(NamesKernelTest, ATaoForOneNameDoesNotOpenAnotherNamesAddressAndIsNotSpentByTheTry) {
  std::string out = Run({"acquire db.tg.test", "connect 127.0.0.3", "connect 127.0.0.2"});
  EXPECT_NE(out.find("ACQUIRE RC=0"), std::string::npos) << out;
  EXPECT_EQ(Connects(out), (std::vector<std::string>{"ERR EPERM", "OK"})) << out;
}

TEST_F(NamesKernelTest, AnAddressChangeMovesTheProtectionWithoutABundleActivation) {
  const size_t records_before = NameRecords("db.tg.test").size();
  dns_->SetHosts("127.0.0.4 db.tg.test\n127.0.0.3 other.tg.test\n");
  ASSERT_TRUE(WaitForAddresses("db.tg.test", {"127.0.0.4"})) << StatusText();
  // The new address needs a grant; the old ones are no longer the database.
  std::string out = Run({"connect 127.0.0.4", "connect 127.0.0.2", "connect 127.0.0.5"});
  EXPECT_EQ(Connects(out), (std::vector<std::string>{"ERR EPERM", "OK", "OK"})) << out;
  auto records = NameRecords("db.tg.test");
  ASSERT_EQ(records.size(), records_before + 1);
  EXPECT_EQ(records.back().Field("added"), "127.0.0.4");
  EXPECT_EQ(records.back().Field("removed"), "127.0.0.2,127.0.0.5");
  EXPECT_EQ(Find(RecordKind::kPolicyActivated, "event", "applied").size(), 1u) << "no bundle activation";
}

TEST_F(NamesKernelTest, AGrantHeldAcrossAnAddressChangeDoesNotOpenTheNewAddress) {
  // Redeemed while db is {.2, .5}; then db moves to .4: the grant does not
  // follow (a new address needs a new TAO), and .4 stays refused.
  std::string ctl_out = Run({"acquire db.tg.test"});
  ASSERT_NE(ctl_out.find("ACQUIRE RC=0"), std::string::npos) << ctl_out;
  dns_->SetHosts("127.0.0.4 db.tg.test\n127.0.0.3 other.tg.test\n");
  ASSERT_TRUE(WaitForAddresses("db.tg.test", {"127.0.0.4"})) << StatusText();
  std::string out = Run({"connect 127.0.0.4"});
  EXPECT_EQ(Connects(out), (std::vector<std::string>{"ERR EPERM"})) << out;
}

TEST_F(NamesKernelTest, ANameThatStopsResolvingKeepsItsLastAddressesProtected) {
  dns_->SetHosts("127.0.0.3 other.tg.test\n");  // db.tg.test: NXDOMAIN
  bool stale = false;
  ASSERT_TRUE(dns::testing::Eventually([&] {
    Addresses("db.tg.test", &stale);
    return stale;
  }, std::chrono::seconds(15))) << StatusText();
  EXPECT_EQ(Addresses("db.tg.test"), (std::vector<std::string>{"127.0.0.2", "127.0.0.5"}));
  std::string out = Run({"connect 127.0.0.2", "connect 127.0.0.5"});
  EXPECT_EQ(Connects(out), (std::vector<std::string>{"ERR EPERM", "ERR EPERM"})) << out;
  auto st = Operator()->Status();
  ASSERT_TRUE(st.ok());
  bool warned = false;
  for (const auto& w : st->warnings()) warned |= w.find("db.tg.test does not resolve") != std::string::npos;
  EXPECT_TRUE(warned) << st->DebugString();
  bool cap = false;
  for (const auto& c : st->capabilities())
    if (c.capability() == "network-names") cap = c.state() == "enforcing" && c.detail().find("1 stale") != std::string::npos;
  EXPECT_TRUE(cap) << st->DebugString();
}

TEST_F(NamesKernelTest, AnAddressSharedByTwoNamesIsReportedAndStaysProtectedForBoth) {
  dns_->SetHosts("127.0.0.2 db.tg.test\n127.0.0.5 db.tg.test\n127.0.0.3 other.tg.test\n127.0.0.2 other.tg.test\n");
  ASSERT_TRUE(WaitForAddresses("other.tg.test", {"127.0.0.2", "127.0.0.3"})) << StatusText();
  auto st = Operator()->Status();
  ASSERT_TRUE(st.ok());
  for (const auto& n : st->names()) {
    if (n.name() != "db.tg.test") continue;
    EXPECT_EQ(std::vector<std::string>(n.shared_with().begin(), n.shared_with().end()),
              std::vector<std::string>{"other.tg.test"});
  }
  // other stops using .2: it stays protected for db.
  dns_->SetHosts("127.0.0.2 db.tg.test\n127.0.0.5 db.tg.test\n127.0.0.3 other.tg.test\n");
  ASSERT_TRUE(WaitForAddresses("other.tg.test", {"127.0.0.3"})) << StatusText();
  std::string out = Run({"connect 127.0.0.2"});
  EXPECT_EQ(Connects(out), (std::vector<std::string>{"ERR EPERM"})) << out;
}

}  // namespace
}  // namespace taogate::agent::testing
