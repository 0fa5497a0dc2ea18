// Reload without restart at a real taogate-agent (docs/agent.md "Reload"):
// the node's client certificate rotated + SIGHUP, after which the governor
// trusts only the new certificate's CA (and restarts) and the agent still
// gets its protected targets; the trust bundle, mounted as a ConfigMap,
// swapped by `..data` with no signal: a malformed one is refused (TAOs of
// the old root still redeem), a rotated one is applied (they no longer do).
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "governance/governor_testing.h"
#include "taogate/common/strings.h"
#include "taogate/keys/root_signer.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/rpc/tls_check.h"
#include "testing/http.h"

namespace taogate::agent::testing {
namespace {

namespace gt = governance::testing;
using ledger::RecordKind;
using ::taogate::testing::ReadFile;
using ::taogate::testing::WriteFile;

class ReloadKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    MakeWorkload("w1");
    metrics_port_ = FreePort();
  }
  void TearDown() override {
    if (getenv("TG_PRINT_AGENT_LOG") && dir_) std::cerr << ReadFile(agent_log_);
    AgentTest::TearDown();
    gov_.reset();
  }
  bool WaitReloaded(const std::string& scope, const std::string& verdict) {
    for (int i = 0; i < 200; ++i, usleep(50'000))
      for (const auto& r : Find(RecordKind::kReloaded, "scope", scope))
        if (r.Field("verdict") == verdict) return true;
    return false;
  }
  std::string Metric(const std::string& sample) {
    std::string m = taogate::testing::HttpGet(metrics_port_, "/metrics");
    size_t at = m.find(sample + " ");
    return at == std::string::npos ? "" : m.substr(at + sample.size() + 1, m.find('\n', at) - at - sample.size() - 1);
  }
  bool Redeems() {
    // redeem-connect: the grant is used, so the next redeem can install one.
    auto r = RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Mint(workloads_.at("w1"), protected_->port())),
                          "127.0.0.1", std::to_string(protected_->port())});
    last_redeem_ = r.out;
    return r.Has("REDEEM OK");
  }
  std::string last_redeem_;
  // Activates the test bundle with its db target on `port` as the admin
  // presenting `admin`; returns the hash.
  std::string Activate(int port, const rpc::ClientTls& admin) {
    std::string y = gt::TestPolicy(gov_->ApproverPublicKeys());
    y.replace(y.find("ports: [5432]"), 13, StrCat("ports: [", port, "]"));
    v1::ActivatePolicyRequest req;
    req.set_bundle_yaml(y);
    v1::ActivatePolicyResponse r;
    grpc::ClientContext ctx;
    grpc::Status st = gov_->ClientWith(admin)->ActivatePolicy(&ctx, req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return r.policy_sha256();
  }
  bool WaitApplied(const std::string& sha) {
    for (int i = 0; i < 300; ++i, usleep(50'000))
      for (const auto& r : Find(RecordKind::kPolicyActivated, "policy_sha256", sha))
        if (r.Field("event") == std::optional<std::string_view>("applied")) return true;
    return false;
  }
  std::unique_ptr<gt::GovernorProcess> gov_;
};

constexpr char kRefused[] = "taogate_agent_reload_total{result=\"refused\"}";
constexpr char kOk[] = "taogate_agent_reload_total{result=\"ok\"}";

TEST_F(ReloadKernelTest, ClientCertRotatedBySighupStillReachesGovernorThatTrustsOnlyTheNewCa) {
  gov_ = std::make_unique<gt::GovernorProcess>();
  auto ca2 = governance::CreateCa("taogate second CA");
  ASSERT_TRUE(ca2.ok());
  const std::string d = dir_->path().string(), ca1 = gov_->ca().cert_pem;
  // The governor accepts clients of both CAs; its own certificate is CA1's.
  WriteFile(gov_->dir() / "ca.crt", ca1 + ca2->cert_pem);
  ASSERT_TRUE(gov_->Start()) << gov_->error();
  WriteFile(d + "/gov-ca.crt", ca1);
  rpc::ClientTls old_tls = gov_->TlsFor(gt::kAgent);
  WriteFile(d + "/agent.crt", old_tls.cert_pem);
  WriteFile(d + "/agent.key", old_tls.key_pem);
  StartAgent(StrCat("governor_address: ", gov_->address(), "\ngovernor_ca: ", d, "/gov-ca.crt\n",
                    "governor_cert: ", d, "/agent.crt\ngovernor_key: ", d, "/agent.key\n",
                    "targets_cache: ", d, "/targets.pb\ngovernor_retry_max_ms: 400\n",
                    "governor_server_name: localhost\n"));
  ASSERT_TRUE(WaitApplied(Activate(protected_->port(), gov_->TlsFor(gt::kAdmin))));

  auto next = governance::IssueCert(*ca2, governance::ClientSpec("agent", gt::kAgent));
  ASSERT_TRUE(next.ok());
  WriteFile(d + "/agent.key.new", next->key_pem);
  WriteFile(d + "/agent.crt.new", next->cert_pem);
  ASSERT_EQ(rename((d + "/agent.key.new").c_str(), (d + "/agent.key").c_str()), 0);
  ASSERT_EQ(rename((d + "/agent.crt.new").c_str(), (d + "/agent.crt").c_str()), 0);
  ASSERT_EQ(kill(agent_pid_, SIGHUP), 0);
  ASSERT_TRUE(WaitReloaded("governor_cert", "ok")) << ReadFile(agent_log_);
  auto info = rpc::CheckKeyPair(next->cert_pem, next->key_pem, "");
  ASSERT_TRUE(info.ok());
  auto rec = Find(RecordKind::kReloaded, "scope", "governor_cert");
  EXPECT_EQ(rec.back().Field("serial"), std::optional<std::string_view>(info->serial_hex));
  EXPECT_EQ(Metric(kRefused), "0");

  // The governor now refuses CA1's certificates, and every connection is new.
  const std::string port = std::to_string(gov_->port());
  gov_->Stop();
  WriteFile(gov_->dir() / "ca.crt", ca2->cert_pem);
  ASSERT_TRUE(gov_->Start({"--listen", "127.0.0.1:" + port})) << gov_->error();
  auto admin = governance::IssueCert(*ca2, governance::ClientSpec("admin", gt::kAdmin));
  ASSERT_TRUE(admin.ok());
  rpc::ClientTls admin_tls{ca1, admin->cert_pem, admin->key_pem, ""};
  const std::string sha = Activate(open_->port(), admin_tls);
  EXPECT_TRUE(WaitApplied(sha)) << ReadFile(agent_log_);
}

TEST_F(ReloadKernelTest, TrustBundleConfigMapSwapBadOneRefusedRotatedOneApplied) {
  const std::string d = dir_->path().string();
  // The harness's trust.json becomes a ConfigMap key in the same directory.
  taogate::testing::ConfigMapDir cm(d, "trust.json", ReadFile(d + "/trust.json"));
  StartAgent();
  ASSERT_TRUE(Redeems()) << last_redeem_;

  cm.Write("{\"roots\": [");  // malformed: refused, the old roots stay
  ASSERT_TRUE(WaitReloaded("trust_bundle", "refused")) << ReadFile(agent_log_);
  EXPECT_EQ(Metric(kRefused), "1");
  EXPECT_NE(ReadFile(agent_log_).find("reload refused"), std::string::npos);
  EXPECT_TRUE(Redeems()) << last_redeem_;

  auto other = keys::SoftwareRootSigner::Generate();
  ASSERT_TRUE(other.ok());
  cm.Write(keys::TrustBundle::ToJson({keys::TrustedRoot{"next-root", (*other)->public_key(), 0, INT64_MAX, true}}));
  ASSERT_TRUE(WaitReloaded("trust_bundle", "ok")) << ReadFile(agent_log_);
  EXPECT_EQ(Metric(kOk), "1");
  EXPECT_FALSE(Redeems()) << last_redeem_;  // the harness's root is no longer trusted
  auto rec = Find(RecordKind::kReloaded, "verdict", "ok");
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].Field("path"), std::optional<std::string_view>(d + "/trust.json"));
  EXPECT_EQ(rec[0].Field("count"), std::optional<std::string_view>("1"));
}

}  // namespace
}  // namespace taogate::agent::testing
