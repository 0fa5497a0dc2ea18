// The agent consuming the governor's streams, end to end: a real
// taogate-governor (software keys, mTLS on loopback), a real taogate-agent
// process and the real kernel gate on test-created cgroups.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "governance/governor_testing.h"
#include "testing/http.h"
#include "taogate/agent/target_sync.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/strings.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;
namespace gt = governance::testing;

using ::taogate::testing::HttpGet;
using ::taogate::testing::UndocumentedSamples;

class GovernorWatchKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    gov_ = std::make_unique<gt::GovernorProcess>();
    WriteAgentCert(gov_->TlsFor(gt::kAgent));
    other_ = std::make_unique<Listener>();
    MakeWorkload("w1");
  }
  void TearDown() override {
    if (getenv("TG_PRINT_AGENT_LOG") && dir_) std::cerr << Log();
    AgentTest::TearDown();
    gov_.reset();
    other_.reset();
  }

  void WriteAgentCert(const rpc::ClientTls& tls) {
    std::string d = dir_->path().string();
    taogate::testing::WriteFile(d + "/agent.crt", tls.cert_pem);
    taogate::testing::WriteFile(d + "/agent.key", tls.key_pem);
  }
  std::string CachePath() const { return dir_->path().string() + "/targets.pb"; }
  // Agent config for a governor at `address` (default: the test governor).
  std::string GovYaml(std::string address = "") const {
    if (address.empty()) address = gov_->address();
    std::string d = dir_->path().string();
    return StrCat("governor_address: ", address, "\ngovernor_ca: ", gov_->dir().string(), "/ca.crt\n",
                  "governor_cert: ", d, "/agent.crt\ngovernor_key: ", d, "/agent.key\n",
                  "targets_cache: ", CachePath(), "\ngovernor_retry_max_ms: 400\n",
                  // The governor's certificate names localhost and 127.0.0.1.
                  "governor_server_name: localhost\n");
  }
  // Activates the test bundle with its db target on `port`; returns the hash.
  // `secrets`: replaces the bundle's file target line (file_paths / binaries).
  std::string Activate(int port, const std::string& secrets = "") {
    std::string y = gt::TestPolicy(gov_->ApproverPublicKeys());
    y.replace(y.find("ports: [5432]"), 13, StrCat("ports: [", port, "]"));
    if (!secrets.empty()) {
      const std::string line = "    file_paths: [/etc/test/secret]";
      y.replace(y.find(line), line.size(), secrets);
    }
    v1::ActivatePolicyRequest req;
    req.set_bundle_yaml(y);
    req.set_name("db.yaml");
    v1::ActivatePolicyResponse r;
    grpc::ClientContext ctx;
    grpc::Status st = gov_->Client(gt::kAdmin)->ActivatePolicy(&ctx, req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(r.errors().empty()) << r.errors(0);
    return r.policy_sha256();
  }
  std::string ActiveHash() {
    v1::GetPolicyResponse r;
    grpc::ClientContext ctx;
    EXPECT_TRUE(gov_->Client(gt::kAgent)->GetPolicy(&ctx, {}, &r).ok());
    return r.policy_sha256();
  }
  bool WaitApplied(const std::string& sha, int timeout_ms = 10'000) {
    for (int i = 0; i < timeout_ms / 50; ++i) {
      for (const auto& r : Find(RecordKind::kPolicyActivated, "policy_sha256", sha))
        if (r.Field("event") == std::optional<std::string_view>("applied")) return true;
      usleep(50'000);
    }
    return false;
  }
  bool Connects(int port) {
    auto r = RunIn("w1", {"connect", "127.0.0.1", std::to_string(port)});
    EXPECT_TRUE(r.Has("CONNECT OK") || r.Has("CONNECT ERR EPERM")) << r.out;
    return r.Has("CONNECT OK");
  }
  absl::Status GovKillSwitch(bool engage) {
    v1::GovernorKillSwitchRequest req;
    req.set_engage(engage);
    req.set_node_id(node_id_);
    req.set_reason(engage ? "incident 7" : "incident 7 over");
    v1::GovernorKillSwitchResponse r;
    grpc::ClientContext ctx;
    return rpc::FromGrpc(gov_->Client(gt::kAdmin)->KillSwitch(&ctx, req, &r));
  }
  std::string Log() const { return taogate::testing::ReadFile(agent_log_); }

  std::unique_ptr<gt::GovernorProcess> gov_;
  std::unique_ptr<Listener> other_;  // never protected
};

// (a) Activation protects the new target and unprotects the removed one;
// the fail-closed catch-all of a cacheless start is lifted by the first set.
TEST_F(GovernorWatchKernelTest, ActivationProgramsTheGate) {
  ASSERT_TRUE(gov_->Start()) << gov_->error();
  metrics_port_ = FreePort();
  StartAgent(GovYaml());
  ASSERT_TRUE(WaitApplied(ActiveHash())) << Log();
  EXPECT_FALSE(Find(RecordKind::kPolicyActivated, "event", "fail_closed").empty());
  EXPECT_TRUE(Connects(open_->port())) << "catch-all not lifted by the first set";

  std::string h1 = Activate(open_->port());
  ASSERT_TRUE(WaitApplied(h1)) << Log();
  EXPECT_FALSE(Connects(open_->port()));
  EXPECT_TRUE(Connects(other_->port()));
  // Protected means "needs a TAO", not "blocked": a genuine one gets through.
  auto red = RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Mint(workloads_["w1"], open_->port())),
                          "127.0.0.1", std::to_string(open_->port())});
  EXPECT_TRUE(red.Has("REDEEM OK") && red.Has("CONNECT OK")) << red.out;

  std::string h2 = Activate(other_->port());
  ASSERT_TRUE(WaitApplied(h2)) << Log();
  EXPECT_TRUE(Connects(open_->port()));
  EXPECT_FALSE(Connects(other_->port()));
  // The static target is never removed by a governor set.
  EXPECT_FALSE(Connects(protected_->port()));
  auto cached = LoadTargetsCache(CachePath());
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->policy_sha256(), h2);
  // Operators see the set in force.
  auto st = Operator()->Status();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->policy_sha256(), h2);
  std::string m = HttpGet(metrics_port_, "/metrics");
  EXPECT_NE(m.find("taogate_agent_governor_connected{stream=\"targets\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_agent_targets_fail_closed 0"), std::string::npos) << m;
  EXPECT_NE(m.find("taogate_agent_protected_targets_not_enforced 1"), std::string::npos) << m;  // the FILE target
  // Every family the agent serves (governor streams included) is documented.
  EXPECT_TRUE(UndocumentedSamples(m).empty()) << m;
  EXPECT_NE(m.find("taogate_agent_build_info{version=\""), std::string::npos) << m;
}

// (b) Governor gone: the last set stays; an agent restarted while it is down
// (on a fresh gate: nothing pinned) re-applies the cached set.
TEST_F(GovernorWatchKernelTest, GovernorDownKeepsLastSetAndRestartUsesCache) {
  ASSERT_TRUE(gov_->Start()) << gov_->error();
  StartAgent(GovYaml());
  std::string h1 = Activate(open_->port());
  ASSERT_TRUE(WaitApplied(h1)) << Log();
  ASSERT_FALSE(Connects(open_->port()));
  gov_->Stop();
  usleep(1'500'000);  // several reconnect attempts
  EXPECT_FALSE(Connects(open_->port()));
  EXPECT_TRUE(Connects(other_->port()));

  StopAgent();
  ASSERT_TRUE(bpf::Gate::Detach(pin_root_).ok());  // forget everything the kernel held
  StartAgent(GovYaml());
  EXPECT_FALSE(Find(RecordKind::kPolicyActivated, "event", "cache_applied").empty());
  EXPECT_NE(Log().find("restored from cache"), std::string::npos);
  EXPECT_FALSE(Connects(open_->port()));
  EXPECT_TRUE(Connects(other_->port())) << "cache applied but still failing closed";
}

// (c) No governor reachable, no cache: every IP destination is denied, but
// the agent socket stays reachable, so a TAO still opens its one connect.
TEST_F(GovernorWatchKernelTest, NoGovernorNoCacheFailsClosed) {
  StartAgent(GovYaml(StrCat("127.0.0.1:", FreePort())));
  EXPECT_FALSE(Find(RecordKind::kPolicyActivated, "event", "fail_closed").empty());
  EXPECT_FALSE(Connects(open_->port()));
  EXPECT_FALSE(Connects(other_->port()));
  auto red = RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Mint(workloads_["w1"], other_->port())),
                          "127.0.0.1", std::to_string(other_->port())});
  EXPECT_TRUE(red.Has("REDEEM OK") && red.Has("CONNECT OK")) << red.out;
  EXPECT_FALSE(Connects(other_->port())) << "a TAO opened more than one connect";
}

// (d) The governor's kill switch goes the operator's path (KILLSWITCH record)
// and survives a governor disconnect.
TEST_F(GovernorWatchKernelTest, KillSwitchFromGovernor) {
  ASSERT_TRUE(gov_->Start()) << gov_->error();
  StartAgent(GovYaml());
  ASSERT_TRUE(WaitApplied(ActiveHash())) << Log();
  ASSERT_TRUE(Connects(open_->port()));
  ASSERT_TRUE(GovKillSwitch(true).ok());
  ASSERT_TRUE(WaitFor(RecordKind::kKillSwitch, "event", "engage", 10'000)) << Log();
  auto rec = Find(RecordKind::kKillSwitch, "event", "engage");
  EXPECT_EQ(rec[0].Field("scope"), std::optional<std::string_view>("all"));
  EXPECT_NE(std::string(*rec[0].Field("reason")).find("governor #1: "), std::string::npos);
  EXPECT_FALSE(Connects(open_->port()));
  ASSERT_TRUE(GovKillSwitch(false).ok());
  ASSERT_TRUE(WaitFor(RecordKind::kKillSwitch, "event", "release", 10'000)) << Log();
  EXPECT_TRUE(Connects(open_->port()));

  ASSERT_TRUE(GovKillSwitch(true).ok());
  for (int i = 0; i < 200 && Find(RecordKind::kKillSwitch, "event", "engage").size() < 2; ++i) usleep(50'000);
  ASSERT_EQ(Find(RecordKind::kKillSwitch, "event", "engage").size(), 2u) << "replayed history re-engaged";
  // A restarted agent gets the history engage/release/engage replayed: it
  // must not release, not even for a moment.
  StopAgent();
  StartAgent(GovYaml());
  for (int i = 0; i < 100 && Find(RecordKind::kKillSwitch, "event", "engage").size() < 3; ++i) usleep(50'000);
  usleep(500'000);
  EXPECT_EQ(Find(RecordKind::kKillSwitch, "event", "release").size(), 1u) << "history replay released";
  EXPECT_FALSE(Connects(open_->port()));
  gov_->Stop();
  usleep(1'500'000);
  EXPECT_FALSE(Connects(open_->port())) << "a governor disconnect released the kill switch";
  EXPECT_EQ(Find(RecordKind::kKillSwitch, "event", "release").size(), 1u);
}

// (e) A corrupt cache is a clear error and treated as no cache: fail closed.
TEST_F(GovernorWatchKernelTest, CorruptCacheFailsClosed) {
  v1::ProtectedTargets t;
  t.set_policy_sha256(std::string(64, 'a'));
  auto* e = t.add_targets();
  e->set_proto(v1::TARGET_PROTO_TCP);
  e->set_cidr("127.0.0.1/32");
  e->set_port_from(open_->port());
  e->set_port_to(open_->port());
  ASSERT_TRUE(SaveTargetsCache(CachePath(), t).ok());
  std::string bytes = taogate::testing::ReadFile(CachePath());
  bytes[bytes.size() - 3] ^= 0x40;  // flip a payload bit: the checksum no longer matches
  taogate::testing::WriteFile(CachePath(), bytes);

  StartAgent(GovYaml(StrCat("127.0.0.1:", FreePort())));
  EXPECT_NE(Log().find("checksum mismatch"), std::string::npos) << Log();
  EXPECT_FALSE(Find(RecordKind::kPolicyActivated, "event", "cache_rejected").empty());
  EXPECT_FALSE(Find(RecordKind::kPolicyActivated, "event", "fail_closed").empty());
  EXPECT_FALSE(Connects(other_->port()));
}

// (f) A client certificate from another CA: the governor refuses the agent,
// which keeps the state it has (here: its cache).
TEST_F(GovernorWatchKernelTest, BadClientChainRefusedStateKept) {
  v1::ProtectedTargets t;
  t.set_policy_sha256(std::string(64, 'b'));
  auto* e = t.add_targets();
  e->set_proto(v1::TARGET_PROTO_TCP);
  e->set_cidr("127.0.0.1/32");
  e->set_port_from(open_->port());
  e->set_port_to(open_->port());
  ASSERT_TRUE(SaveTargetsCache(CachePath(), t).ok());
  auto rogue_ca = governance::CreateCa("rogue CA");
  ASSERT_TRUE(rogue_ca.ok());
  auto rogue = governance::IssueCert(*rogue_ca, governance::ClientSpec("agent", gt::kAgent));
  ASSERT_TRUE(rogue.ok());
  rpc::ClientTls rogue_tls;
  rogue_tls.cert_pem = rogue->cert_pem;
  rogue_tls.key_pem = rogue->key_pem;
  WriteAgentCert(rogue_tls);

  ASSERT_TRUE(gov_->Start()) << gov_->error();
  StartAgent(GovYaml());
  usleep(2'000'000);  // several refused attempts
  EXPECT_NE(Log().find("governor stream ended"), std::string::npos) << Log();
  EXPECT_TRUE(Find(RecordKind::kPolicyActivated, "event", "applied").empty()) << "a refused agent got a set";
  EXPECT_FALSE(Connects(open_->port()));   // the cached set holds
  EXPECT_TRUE(Connects(other_->port()));   // and is not the catch-all
}

// The bundle's file and binary targets reach the node: the agent protects
// them with whatever the kernel offers (here the kill-on-syscall fallback),
// and a later bundle without them lifts the protection.
TEST_F(GovernorWatchKernelTest, FileAndBinaryTargetsFromTheBundleAreEnforced) {
  std::string files = dir_->path().string() + "/gov-files";
  std::filesystem::create_directories(files);
  std::string db = files + "/ledger.db", tool = files + "/listed-touch";
  taogate::testing::WriteFile(db, "rows");
  chmod(db.c_str(), 0666);
  std::filesystem::copy_file("/usr/bin/touch", tool);
  chmod(tool.c_str(), 0755);
  ASSERT_TRUE(gov_->Start()) << gov_->error();
  StartAgent(GovYaml());
  ASSERT_TRUE(WaitApplied(ActiveHash())) << Log();
  std::string h1 = Activate(open_->port(), StrCat("    file_paths: [", db, "]\n  - id: tools\n    binaries: [", tool, "]"));
  ASSERT_TRUE(WaitApplied(h1)) << Log();
  auto w = RunIn("w1", {"append", db});
  EXPECT_FALSE(w.Has("WROTE")) << w.out;
  EXPECT_EQ(taogate::testing::ReadFile(db), "rows");
  std::string marker = files + "/ran";
  RunIn("w1", {"exec", tool, marker});
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a binary the bundle lists ran";

  std::string h2 = Activate(open_->port());  // back to the bundle without them
  ASSERT_TRUE(WaitApplied(h2)) << Log();
  EXPECT_TRUE(RunIn("w1", {"append", db}).Has("WROTE"));
  RunIn("w1", {"exec", tool, marker});
  EXPECT_TRUE(std::filesystem::exists(marker));
}

}  // namespace
}  // namespace taogate::agent::testing
