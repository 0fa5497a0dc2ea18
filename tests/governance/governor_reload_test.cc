// Reload without restart (docs/governor.md "Reload"), against a real
// taogate-governor process with real mTLS on loopback: a rotated server
// certificate reaches new handshakes after SIGHUP while an open stream keeps
// working; a key that does not match is refused (old certificate served,
// ledger record, metric, log line); a policy ConfigMap swapped the way
// Kubernetes does it (`..data` symlink renamed onto a new directory, no
// signal) is activated and streamed to agents; a malformed one is refused.
#include <signal.h>

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "governance/governor_testing.h"
#include "taogate/common/strings.h"
#include "taogate/rpc/tls_check.h"

namespace taogate::governance::testing {
namespace {

namespace fs = std::filesystem;
using ::taogate::testing::ConfigMapDir;
using ::taogate::testing::ReadFile;
using ::taogate::testing::WriteFile;

// Writes `data` to `path` the way an operator's `mv` does (no torn read).
void Replace(const fs::path& path, const std::string& data) {
  WriteFile(path.string() + ".new", data);
  fs::rename(path.string() + ".new", path);
}

// The certificate a fresh handshake with the governor is served (PEM).
std::string ServedCert(GovernorProcess& gov) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetPolicyResponse r;
  if (!gov.Client(kAdmin)->GetPolicy(&ctx, v1::GetPolicyRequest(), &r).ok()) return "";
  auto pems = ctx.auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  return pems.empty() ? "" : std::string(pems[0].data(), pems[0].size());
}

// Polls `f` for up to 10 s (the provider re-reads once a second).
template <typename F>
bool Eventually(F f) {
  for (int i = 0; i < 200; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string Metric(GovernorProcess& gov, const std::string& sample) {
  std::string m = HttpGet(gov.MetricsPort(), "/metrics");
  size_t at = m.find(sample + " ");
  return at == std::string::npos ? "" : m.substr(at + sample.size() + 1, m.find('\n', at) - at - sample.size() - 1);
}
constexpr char kOk[] = "taogate_governor_reload_total{result=\"ok\"}";
constexpr char kRefused[] = "taogate_governor_reload_total{result=\"refused\"}";

std::vector<ledger::Record> Reloaded(GovernorProcess& gov, const std::string& verdict,
                                     const std::string& scope) {
  std::vector<ledger::Record> out;
  auto recs = gov.LedgerRecords();
  if (!recs.ok()) return out;
  for (auto& r : *recs)
    if (r.kind == ledger::RecordKind::kReloaded && r.Field("verdict") == verdict && r.Field("scope") == scope)
      out.push_back(r);
  return out;
}

v1::GetPolicyResponse Policy(GovernorProcess& gov) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetPolicyResponse r;
  (void)gov.Client(kAdmin)->GetPolicy(&ctx, v1::GetPolicyRequest(), &r);
  return r;
}

// An agent's protected-target stream, open across the reloads.
struct TargetStream {
  grpc::ClientContext ctx;
  std::unique_ptr<v1::Governor::Stub> stub;
  std::unique_ptr<grpc::ClientReader<v1::ProtectedTargets>> reader;
  TargetStream(GovernorProcess& gov) : stub(gov.Client(kAgent)) {
    reader = stub->WatchProtectedTargets(&ctx, v1::WatchProtectedTargetsRequest());
  }
  ~TargetStream() { ctx.TryCancel(); }
  std::string NextSha() {
    v1::ProtectedTargets t;
    return reader->Read(&t) ? t.policy_sha256() : "";
  }
};

TEST(GovernorReloadTest, RotatedCertificateAfterSighupNewHandshakesOldStreamKeepsWorking) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  const std::string old_cert = ReadFile(gov.dir() / "server.crt");
  ASSERT_EQ(ServedCert(gov), old_cert);
  TargetStream stream(gov);
  const std::string first = stream.NextSha();
  ASSERT_FALSE(first.empty());

  auto next = IssueCert(gov.ca(), ServerSpec("governor-2", {"localhost"}, {"127.0.0.1"}));
  ASSERT_TRUE(next.ok());
  Replace(gov.dir() / "server.key", next->key_pem);
  Replace(gov.dir() / "server.crt", next->cert_pem);
  ASSERT_EQ(kill(gov.pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually([&] { return ServedCert(gov) == next->cert_pem; })) << gov.log();

  // The stream opened before the rotation still delivers (a new activation).
  grpc::ClientContext ctx;
  v1::ActivatePolicyRequest req;
  req.set_bundle_yaml(TestPolicy(gov.ApproverPublicKeys(), 2));
  v1::ActivatePolicyResponse resp;
  ASSERT_TRUE(gov.Client(kAdmin)->ActivatePolicy(&ctx, req, &resp).ok());
  EXPECT_EQ(stream.NextSha(), resp.policy_sha256());
  EXPECT_EQ(Metric(gov, kRefused), "0");

  auto info = rpc::CheckKeyPair(next->cert_pem, next->key_pem, gov.ca().cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  gov.Stop();
  auto recs = Reloaded(gov, "ok", "tls_cert");
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back().Field("serial"), info->serial_hex);
  EXPECT_EQ(recs.back().Field("not_after"), info->not_after);
  EXPECT_EQ(recs.back().Field("path"), (gov.dir() / "server.crt").string());
  EXPECT_FALSE(Reloaded(gov, "ok", "tls_key").empty());
}

TEST(GovernorReloadTest, MismatchedKeyRefusedOldCertificateStillServed) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  const std::string old_cert = ReadFile(gov.dir() / "server.crt");
  auto other = IssueCert(gov.ca(), ServerSpec("other", {"localhost"}, {"127.0.0.1"}));
  ASSERT_TRUE(other.ok());
  Replace(gov.dir() / "server.key", other->key_pem);  // not the certificate's key
  ASSERT_EQ(kill(gov.pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] { return Metric(gov, kRefused) != "0" && !Metric(gov, kRefused).empty(); }))
      << gov.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a refresh would have happened
  EXPECT_EQ(ServedCert(gov), old_cert);
  EXPECT_EQ(Metric(gov, kOk), "0");
  EXPECT_NE(gov.log().find("reload refused"), std::string::npos);
  EXPECT_NE(gov.log().find("does not match the certificate"), std::string::npos) << gov.log();
  gov.Stop();
  auto recs = Reloaded(gov, "refused", "tls_key");
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs[0].Field("path"), (gov.dir() / "server.key").string());
  EXPECT_EQ(recs[0].Field("reason_code"), "reload_refused");
}

TEST(GovernorReloadTest, CorruptCertificateRefused) {
  GovernorProcess gov;
  ASSERT_TRUE(gov.Start()) << gov.error();
  const std::string old_cert = ReadFile(gov.dir() / "server.crt");
  Replace(gov.dir() / "server.crt", old_cert.substr(0, old_cert.size() / 2));
  ASSERT_EQ(kill(gov.pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] { return Metric(gov, kRefused) != "0" && !Metric(gov, kRefused).empty(); }));
  EXPECT_EQ(ServedCert(gov), old_cert);
  gov.Stop();
  EXPECT_FALSE(Reloaded(gov, "refused", "tls_cert").empty());
}

TEST(GovernorReloadTest, PolicyConfigMapSwapActivatedWithoutSignalAndStreamedToAgents) {
  GovernorProcess gov;
  ConfigMapDir cm(gov.dir() / "policy-cm", "bundle.yaml", TestPolicy(gov.ApproverPublicKeys(), 1));
  ASSERT_TRUE(gov.Start({"--policy", cm.path()})) << gov.error();
  const std::string before = Policy(gov).policy_sha256();
  TargetStream stream(gov);
  ASSERT_EQ(stream.NextSha(), before);

  const std::string v2 = TestPolicy(gov.ApproverPublicKeys(), 2);
  cm.Write(v2);
  ASSERT_TRUE(Eventually([&] { return Policy(gov).bundle_yaml() == v2; })) << gov.log();
  const std::string after = Policy(gov).policy_sha256();
  EXPECT_NE(after, before);
  EXPECT_EQ(stream.NextSha(), after);  // the agents' stream gets the new set
  // Counted after the activation is visible (RecordReload follows it).
  EXPECT_TRUE(Eventually([&] { return Metric(gov, kOk) == "1"; })) << Metric(gov, kOk);
  gov.Stop();
  auto recs = gov.LedgerRecords();
  ASSERT_TRUE(recs.ok());
  bool activated = false;
  for (const auto& r : *recs)
    if (r.kind == ledger::RecordKind::kPolicyActivated && r.Field("policy_sha256") == after)
      activated = r.Field("actor") == "file:" + cm.path();
  EXPECT_TRUE(activated);
  EXPECT_FALSE(Reloaded(gov, "ok", "policy").empty());
}

TEST(GovernorReloadTest, MalformedPolicySwapRefusedOldBundleStaysActive) {
  GovernorProcess gov;
  ConfigMapDir cm(gov.dir() / "policy-cm", "bundle.yaml", TestPolicy(gov.ApproverPublicKeys(), 1));
  ASSERT_TRUE(gov.Start({"--policy", cm.path()})) << gov.error();
  const std::string before = Policy(gov).policy_sha256();
  cm.Write("rules: [ {id: broken\n");
  ASSERT_TRUE(Eventually([&] { return Metric(gov, kRefused) == "1"; })) << gov.log();
  EXPECT_EQ(Policy(gov).policy_sha256(), before);
  v1::Decision d;
  ASSERT_TRUE(gov.Authorize(kAgent, ReadRequest(), &d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT);  // the old bundle still decides
  EXPECT_NE(gov.log().find(cm.path()), std::string::npos);
  gov.Stop();
  auto recs = Reloaded(gov, "refused", "policy");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].Field("path"), cm.path());
}

}  // namespace
}  // namespace taogate::governance::testing
