// taogatectl certs / authz / gov against a real governor, end to end.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "governance/governor_testing.h"

namespace taogate::governance::testing {
namespace {

using taogate::testing::BinPath;
using taogate::testing::CommandResult;
using taogate::testing::RunCommand;

class GovernorCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gov_.Start()) << gov_.error();
    for (auto [id, name] : {std::pair{kAgent, "agent"}, std::pair{kWriter, "writer"},
                            std::pair{kAdmin, "admin"}}) {
      auto r = Ctl({"certs", "client", gov_.dir().string(), "--uri", id, "--name", name});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    for (auto [id, name] : {std::pair{kAlice, "alice"}, std::pair{kBob, "bob"}}) {
      taogate::testing::WriteFile(gov_.dir() / (std::string(name) + ".pem"),
                                  *gov_.ApproverKey(id).ToPem());
    }
  }
  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), BinPath("taogatectl"));
    return RunCommand(args);
  }
  // A command against the governor as `who` (a cert name made in SetUp).
  CommandResult As(const std::string& who, std::vector<std::string> args) {
    auto d = gov_.dir().string();
    std::vector<std::string> conn = {"--governor", gov_.address(), "--ca", d + "/ca.crt",
                                     "--cert", d + "/" + who + ".crt", "--key",
                                     d + "/" + who + ".key"};
    args.insert(args.end(), conn.begin(), conn.end());
    return Ctl(args);
  }
  std::vector<std::string> Request(const std::string& action) {
    return {"authz", "request", "--node", "node-a", "--cgroup-id", "4242", "--cgroup-path",
            "/taogate/test", "--action", action, "--target", "tcp:127.0.0.1:5432", "--reason",
            "cli test"};
  }

  GovernorProcess gov_;
};

TEST_F(GovernorCliTest, RequestApproveAndFetchTheTao) {
  auto tao_path = (gov_.dir() / "read.tao").string();
  auto args = Request("db.read");
  args.insert(args.end(), {"--tao-out", tao_path});
  auto r = As("agent", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::Tao tao;
  EXPECT_TRUE(tao.ParseFromString(taogate::testing::ReadFile(tao_path)));

  r = As("writer", Request("db.write"));
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;  // pending approval
  std::string id = nlohmann::json::parse(r.out)["decision_id"];
  for (const char* approver : {"alice", "bob"}) {
    auto a = As("admin", {"authz", "approve", id, "--approver-key",
                          (gov_.dir() / (std::string(approver) + ".pem")).string()});
    ASSERT_EQ(a.exit_code, 0) << a.err;
  }
  auto write_tao = (gov_.dir() / "write.tao").string();
  r = As("writer", {"authz", "decision", id, "--tao-out", write_tao});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(tao.ParseFromString(taogate::testing::ReadFile(write_tao)));
}

// An auditor checks the governor's ledger offline with a checkpoint key that
// must chain to the trust bundle's root; a key from elsewhere, a certificate
// for another key, or a bundle with another root are each refused.
TEST_F(GovernorCliTest, LedgerVerifyCertifiesTheCheckpointKeyAgainstTheTrustBundle) {
  auto d = gov_.dir();
  auto cert = (d / "checkpoint.cert").string();
  auto r = As("agent", {"gov", "checkpoint", "--key-cert-out", cert});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto at = r.out.find("verifier key: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string vkey = r.out.substr(at + 14);
  vkey = vkey.substr(0, vkey.find('\n'));
  taogate::testing::WriteFile(d / "checkpoint.vkey", vkey);
  auto openssl = [](std::vector<std::string> a) {
    a.insert(a.begin(), "/usr/bin/openssl");
    return RunCommand(a);
  };
  ASSERT_EQ(openssl({"pkey", "-in", gov_.root_key_path(), "-pubout", "-out", (d / "root.pub").string()}).exit_code, 0);
  auto bundle = (d / "bundle.json").string();
  ASSERT_EQ(Ctl({"keys", "bundle-add", "--trust-bundle", bundle, "--pem", (d / "root.pub").string(), "--name", "dev-root",
                 "--software"}).exit_code, 0);
  std::vector<std::string> verify = {"ledger", "verify", "--dir", gov_.ledger_dir(), "--pubkey",
                                     (d / "checkpoint.vkey").string(), "--key-cert", cert};
  auto with = [&](std::vector<std::string> extra) {
    auto a = verify;
    a.insert(a.end(), extra.begin(), extra.end());
    return Ctl(a);
  };
  r = with({"--trust-bundle", bundle});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("certified by root dev-root"), std::string::npos) << r.out;
  // Strict audits refuse a software root.
  r = with({"--trust-bundle", bundle, "--strict"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("not certified"), std::string::npos) << r.err;
  // A bundle holding another root.
  ASSERT_EQ(openssl({"genpkey", "-algorithm", "ed25519", "-out", (d / "other.pem").string()}).exit_code, 0);
  ASSERT_EQ(openssl({"pkey", "-in", (d / "other.pem").string(), "-pubout", "-out", (d / "other.pub").string()})
                .exit_code, 0);
  auto other_bundle = (d / "other-bundle.json").string();
  ASSERT_EQ(Ctl({"keys", "bundle-add", "--trust-bundle", other_bundle, "--pem", (d / "other.pub").string(),
                 "--software"}).exit_code, 0);
  r = with({"--trust-bundle", other_bundle});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  // A checkpoint key the certificate is not about (forged checkpoints).
  r = Ctl({"ledger", "verify", "--dir", gov_.ledger_dir(), "--pubkey", (d / "other.pub").string(), "--key-cert",
           cert, "--trust-bundle", bundle});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("certifies another key"), std::string::npos) << r.err;
  // Half the flags is a usage error, not a silent skip.
  EXPECT_EQ(Ctl({"ledger", "verify", "--dir", gov_.ledger_dir(), "--key-cert", cert}).exit_code, 2);
}

TEST_F(GovernorCliTest, BadBundleActivationPrintsTheLine) {
  auto bad = gov_.dir() / "bad.yaml";
  taogate::testing::WriteFile(bad, "version: 1\nname: x\nroles: 7\n");
  auto r = As("admin", {"gov", "policy-activate", bad.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad.string() + ":3:"), std::string::npos) << r.err;
  r = As("agent", {"gov", "policy-get"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, taogate::testing::ReadFile(gov_.policy_path()));
}

TEST_F(GovernorCliTest, CertsInitRefusesToOverwriteACa) {
  auto d = (gov_.dir() / "newca").string();
  auto r = Ctl({"certs", "init", d});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(taogate::testing::ReadFile(d + "/server.crt").empty());
  EXPECT_NE(Ctl({"certs", "init", d}).exit_code, 0);
}

}  // namespace
}  // namespace taogate::governance::testing
