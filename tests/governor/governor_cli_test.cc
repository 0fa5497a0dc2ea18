// taogatectl certs / authz / gov against a real governor, end to end.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "governor/governor_testing.h"

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
