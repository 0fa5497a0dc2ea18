// Acquire end to end with the real agent and kernel gate (root): a workload
// in a governed cgroup runs `taogatectl acquire` (no certificate, no cgroup
// id, no node name) and then connects; the agent attests it, asks an
// in-test Governor service over real mTLS on loopback (node certificate
// spiffe://test.example/node/node-test), which issues real TAOs with the
// harness's issuer, redeems and installs the grant. One connect passes, the
// next is denied.
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "governor.grpc.pb.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/governance/x509.h"

namespace taogate::agent::testing {
namespace {

constexpr char kNodeIdentity[] = "spiffe://test.example/node/node-test";

// The governor as the agent sees it: permits every attested request from
// the node by minting a TAO bound to the attested workload; streams one
// protected-target set (the harness's protected port) and no kill switch.
class TestGovernor final : public v1::Governor::Service {
 public:
  std::function<v1::Decision(const v1::AuthorizationRequest&)> decide;
  int protected_port = 0;
  std::mutex mu;
  std::vector<v1::AuthorizationRequest> requests;

  grpc::Status RequestAuthorization(grpc::ServerContext*, const v1::AuthorizationRequest* r,
                                    v1::Decision* d) override {
    {
      std::lock_guard l(mu);
      requests.push_back(*r);
    }
    if (!r->has_attested()) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not attested");
    *d = decide(*r);
    return grpc::Status::OK;
  }
  grpc::Status WatchProtectedTargets(grpc::ServerContext* ctx, const v1::WatchProtectedTargetsRequest*,
                                     grpc::ServerWriter<v1::ProtectedTargets>* w) override {
    v1::ProtectedTargets t;
    t.set_policy_sha256(std::string(64, 'a'));
    auto* pt = t.add_targets();
    pt->set_proto(v1::TARGET_PROTO_TCP);
    pt->set_cidr("127.0.0.1/32");
    pt->set_port_from(protected_port);
    pt->set_port_to(protected_port);
    pt->set_name("db");
    w->Write(t);
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return grpc::Status::OK;
  }
  grpc::Status WatchKillSwitch(grpc::ServerContext* ctx, const v1::WatchKillSwitchRequest*,
                               grpc::ServerWriter<v1::GovernorKillSwitchRequest>*) override {
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return grpc::Status::OK;
  }
};

class AcquireKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    w1_ = MakeWorkload("w1");
    auto ca = governance::CreateCa("acquire-test-ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    auto server = governance::IssueCert(*ca, governance::ServerSpec("localhost", {"localhost"}, {"127.0.0.1"}));
    auto node = governance::IssueCert(*ca, governance::ClientSpec("node-test", kNodeIdentity));
    ASSERT_TRUE(server.ok() && node.ok());
    std::string d = dir_->path().string();
    taogate::testing::WriteFile(d + "/ca.crt", ca->cert_pem);
    taogate::testing::WriteFile(d + "/node.crt", node->cert_pem);
    taogate::testing::WriteFile(d + "/node.key", node->key_pem);
    gov_.protected_port = protected_->port();
    gov_.decide = [this](const v1::AuthorizationRequest& r) {
      v1::Decision dec;
      dec.set_decision_id("d-1");
      dec.set_outcome(v1::OUTCOME_PERMIT);
      dec.set_tao(Sign(Body(r.attested().cgroup_id(), r.target().port())));
      return dec;
    };
    grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    o.pem_root_certs = ca->cert_pem;
    o.pem_key_cert_pairs.push_back({server->key_pem, server->cert_pem});
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(o), &gov_port_);
    b.RegisterService(&gov_);
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_ && gov_port_ > 0);
  }
  void TearDown() override {
    if (agent_running()) KillAgent();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    AgentTest::TearDown();
  }
  std::string GovYaml(int port) const {
    std::string d = dir_->path().string();
    return StrCat("governor_address: 127.0.0.1:", port, "\ngovernor_ca: ", d, "/ca.crt\ngovernor_cert: ", d,
                  "/node.crt\ngovernor_key: ", d, "/node.key\ngovernor_server_name: localhost\n",
                  "targets_cache: ", d, "/targets.pb\ngovernor_retry_max_ms: 400\n");
  }
  // A shell script run inside workload `name` (the test workload execs
  // /bin/sh on it); its stdout.
  std::string Shell(const std::string& name, const std::string& script) {
    std::string path = dir_->path().string() + "/script.sh";
    taogate::testing::WriteFile(path, script);
    return RunIn(name, {"exec", "/bin/sh", path}).out;
  }
  std::string AcquireThenConnectTwice() {
    std::string ctl = taogate::testing::BinPath("taogatectl");
    std::string port = std::to_string(protected_->port());
    return Shell("w1", StrCat(ctl, " acquire tcp:127.0.0.1:", port, " --action db.read --reason 'nightly report'",
                              " --timeout-ms 5000 --socket ", workload_sock_, " 2>&1; echo RC=$?; ", WorkloadBin(),
                              " connect 127.0.0.1 ", port, "; ", WorkloadBin(), " connect 127.0.0.1 ", port));
  }
  static size_t Count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
  }

  uint64_t w1_ = 0;
  TestGovernor gov_;
  int gov_port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(AcquireKernelTest, WorkloadAcquiresThenConnectsExactlyOnce) {
  StartAgent(GovYaml(gov_port_));
  std::string out = AcquireThenConnectTwice();
  EXPECT_NE(out.find("\"phase\":\"ATTESTED\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"phase\":\"GRANTED\""), std::string::npos) << out;
  EXPECT_NE(out.find("RC=0"), std::string::npos) << out;
  EXPECT_EQ(Count(out, "CONNECT OK"), 1u) << out;
  EXPECT_NE(out.find("CONNECT ERR EPERM"), std::string::npos) << out;
  EXPECT_EQ(protected_->accepted(), 1);
  ASSERT_EQ(gov_.requests.size(), 1u);
  const auto& a = gov_.requests[0].attested();
  EXPECT_EQ(a.node_id(), node_id_);
  EXPECT_EQ(a.cgroup_id(), w1_);
  EXPECT_EQ(a.cgroup_path(), governed_rel_ + "/w1");
  std::ifstream in(taogate::testing::BinPath("taogatectl"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(a.exe_sha256(), ToHex(crypto::Sha256(ss.str())));
  EXPECT_EQ(Find(ledger::RecordKind::kConsumed, "workload", governed_rel_ + "/w1").size(), 1u);
}

TEST_F(AcquireKernelTest, GovernorUnreachableIsUnavailableNothingGranted) {
  StartAgent(GovYaml(FreePort()));
  std::string out = AcquireThenConnectTwice();
  EXPECT_NE(out.find("\"reason_code\":\"UNAVAILABLE\""), std::string::npos) << out;
  EXPECT_NE(out.find("RC=1"), std::string::npos) << out;
  EXPECT_EQ(Count(out, "CONNECT OK"), 0u) << out;
  EXPECT_EQ(protected_->accepted(), 0);
}

// A flood of acquires from one workload is bounded there; another workload
// is unaffected.
TEST_F(AcquireKernelTest, FloodFromOneWorkloadBoundedOthersUnaffected) {
  MakeWorkload("w2");
  StartAgent(GovYaml(gov_port_) + "acquire_rate_per_s: 1\nacquire_burst: 3\n");
  std::string acquire = StrCat(taogate::testing::BinPath("taogatectl"), " acquire tcp:127.0.0.1:", protected_->port(),
                               " --action db.read --reason flood --authorize-only --tao-out /dev/null --socket ",
                               workload_sock_, " 2>&1");
  std::string flood = Shell("w1", StrCat("for i in 1 2 3 4 5 6 7 8; do ", acquire, "; done"));
  EXPECT_GE(Count(flood, "\"reason_code\":\"RATE_LIMITED\""), 4u) << flood;
  EXPECT_LE(gov_.requests.size(), 5u);
  std::string other = Shell("w2", acquire);
  EXPECT_NE(other.find("\"phase\":\"AUTHORIZED\""), std::string::npos) << other;
}

TEST_F(AcquireKernelTest, OperatorSocketRefusesAcquire) {
  StartAgent(GovYaml(gov_port_));
  v1::AcquireRequest req;
  req.set_target("tcp:127.0.0.1:" + std::to_string(protected_->port()));
  req.set_action_class("db.read");
  req.set_reason("x");
  auto r = Operator()->Acquire(req, false);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_TRUE(gov_.requests.empty());
}

}  // namespace
}  // namespace taogate::agent::testing
