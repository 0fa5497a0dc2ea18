// taogatectl policy ...: the real binary on real files.
#include <gtest/gtest.h>

#include "policy_testing.h"
#include "testing/testing.h"

namespace taogate::policies {
namespace {

using taogate::testing::BinPath;
using taogate::testing::RunCommand;
using taogate::testing::TempDir;
using taogate::testing::WriteFile;

class PolicyCliTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& yaml) {
    auto p = (dir_.path() / name).string();
    WriteFile(p, yaml);
    return p;
  }
  TempDir dir_;
};

TEST_F(PolicyCliTest, ValidatePrintsLineAndFieldErrors) {
  std::string f = Write("bad.yaml", "version: 1\nname: x\nroles:\n  - id: r\n    colour: 1\n");
  auto r = RunCommand({BinPath("taogatectl"), "policy", "validate", f});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(f + ":5:5: roles[0].colour: unknown field"), std::string::npos) << r.err;
}

TEST_F(PolicyCliTest, ValidateAndHashGoodBundle) {
  std::string f = Write("good.yaml", testing::TestBundleYaml());
  auto v = RunCommand({BinPath("taogatectl"), "policy", "validate", f});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  auto h = RunCommand({BinPath("taogatectl"), "policy", "hash", f});
  EXPECT_EQ(h.exit_code, 0);
  auto s = RunCommand({"/usr/bin/sha256sum", f});
  EXPECT_EQ(h.out, s.out);  // same format and value as sha256sum
}

TEST_F(PolicyCliTest, HashRefusesInvalidBundle) {
  std::string f = Write("bad.yaml", "version: 1\n");
  auto h = RunCommand({BinPath("taogatectl"), "policy", "hash", f});
  EXPECT_EQ(h.exit_code, 1);
  EXPECT_EQ(h.out, "");
}

TEST_F(PolicyCliTest, EvalExitCodesFollowTheDecision) {
  std::string f = Write("good.yaml", testing::TestBundleYaml());
  auto eval = [&](const char* actor, const char* wl, const char* action, const char* target) {
    return RunCommand({BinPath("taogatectl"), "policy", "eval", f, "--actor", actor, "--workload",
                       wl, "--action", action, "--target", target});
  };
  auto permit = eval(testing::kReporter, "node=node-a,cgroup=/taogate/reporter,label.app=reporter",
                     "db.read", "tcp:10.20.0.5:5432");
  EXPECT_EQ(permit.exit_code, 0) << permit.out << permit.err;
  EXPECT_NE(permit.out.find("\"effect\": \"PERMIT\""), std::string::npos);
  EXPECT_NE(permit.out.find("\"rule_id\": \"allow-reads\""), std::string::npos);
  auto deny = eval(testing::kPlugin, "reporter", "db.read", "tcp:10.20.0.5:5432");
  EXPECT_EQ(deny.exit_code, 2) << deny.out << deny.err;
  auto approval = eval(testing::kWriter, "writer", "db.write", "tcp:10.20.0.5:5432");
  EXPECT_EQ(approval.exit_code, 3) << approval.out << approval.err;
  EXPECT_NE(approval.out.find("\"count\": 2"), std::string::npos);
  auto bad = eval(testing::kWriter, "writer", "db.write", "tcp:nonsense");
  EXPECT_EQ(bad.exit_code, 1);
}

}  // namespace
}  // namespace taogate::policies
