// taogatectl policy test / policy diff: the real binary on the shipped
// examples and on broken copies of them.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "testing/testing.h"

namespace taogate::policies {
namespace {

namespace fs = std::filesystem;
using taogate::testing::BinPath;
using taogate::testing::ReadFile;
using taogate::testing::RunCommand;
using taogate::testing::TempDir;
using taogate::testing::WriteFile;

const fs::path kExamples = fs::path(TAOGATE_SOURCE_DIR) / "policies/examples";

class PolicyTestCli : public ::testing::Test {
 protected:
  // A copy of policies/examples in which `file` has `from` replaced by `to`.
  fs::path BrokenCopy(const std::string& file, const std::string& from, const std::string& to) {
    fs::path root = dir_.path() / "examples";
    fs::copy(kExamples, root, fs::copy_options::recursive);
    std::string text = ReadFile(root / file);
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    WriteFile(root / file, text);
    return root;
  }
  taogate::testing::CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BinPath("taogatectl"), "policy"});
    return RunCommand(args);
  }
  TempDir dir_;
};

TEST_F(PolicyTestCli, ShippedCasesPass) {
  auto r = Ctl({"test", kExamples.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  "), std::string::npos);
  EXPECT_NE(r.out.find(" passed, 0 failed in 2 files"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST_F(PolicyTestCli, BrokenCaseFailsWithADiff) {
  fs::path root = BrokenCopy("tests/production_test.yaml", "count: 2", "count: 1");
  auto r = Ctl({"test", root.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  " + (root / "tests/production_test.yaml").string()),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    approvals.count: expected 1, got 2\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", 1 failed in 2 files"), std::string::npos) << r.out;
}

TEST_F(PolicyTestCli, ChangedBundleFailsItsCases) {
  // A bundle edit the cases did not expect: the reporter's grant becomes a deny.
  fs::path root = BrokenCopy("minimal.yaml", "effect: allow", "effect: deny");
  auto r = Ctl({"test", (root / "tests/minimal_test.yaml").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("    decision: expected permit, got deny\n"), std::string::npos) << r.out;
}

TEST_F(PolicyTestCli, MalformedCaseFileExitsTwoWithPosition) {
  fs::path root = BrokenCopy("tests/minimal_test.yaml", "    expect:\n      decision: permit",
                             "    expect:\n      decison: permit");
  auto r = Ctl({"test", root.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("minimal_test.yaml:11:7: cases[0].expect.decison: unknown field"),
            std::string::npos) << r.err;
}

TEST_F(PolicyTestCli, MissingBundleExitsTwoNamingTheBundleLine) {
  fs::path root = BrokenCopy("tests/minimal_test.yaml", "bundle: ../minimal.yaml",
                             "bundle: ../nope.yaml");
  auto r = Ctl({"test", (root / "tests/minimal_test.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("minimal_test.yaml:3:9: bundle: cannot load policy bundle"),
            std::string::npos) << r.err;
}

TEST_F(PolicyTestCli, DirectoryWithoutTestsExitsTwo) {
  auto r = Ctl({"test", dir_.path().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no *_test.yaml files"), std::string::npos) << r.err;
}

TEST_F(PolicyTestCli, DiffExitsThreeWhenAuthorityIsAdded) {
  fs::path root = BrokenCopy("production.yaml", "      count: 2", "      count: 1");
  std::string before = (kExamples / "production.yaml").string();
  std::string after = (root / "production.yaml").string();
  auto up = Ctl({"diff", before, after});
  EXPECT_EQ(up.exit_code, 3) << up.out << up.err;
  EXPECT_NE(up.out.find("+ grants (authority added): 1\n  + [access] "
                        "spiffe://example.org/ns/finance/sa/refunds-agent (workload refunds): "
                        "db.write on orders-db: require_approval 2 of roles [dba]"),
            std::string::npos) << up.out;
  auto down = Ctl({"diff", after, before});
  EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
  EXPECT_NE(down.out.find("- revokes (authority removed): 1"), std::string::npos) << down.out;
  auto same = Ctl({"diff", before, before});
  EXPECT_EQ(same.exit_code, 0);
  EXPECT_NE(same.out.find("no change in authority"), std::string::npos);
}

TEST_F(PolicyTestCli, DiffJsonForMachines) {
  fs::path root = BrokenCopy("production.yaml", "rate: 600/m", "rate: 6000/m");
  auto r = Ctl({"diff", "--json", (kExamples / "production.yaml").string(),
                (root / "production.yaml").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["adds_authority"].get<bool>());
  ASSERT_EQ(j["grants"].size(), 1u);
  EXPECT_EQ(j["grants"][0]["kind"], "rate_limit");
  EXPECT_EQ(j["revokes"].size(), 0u);
}

TEST_F(PolicyTestCli, DiffOfAnInvalidBundleExitsOne) {
  fs::path bad = dir_.path() / "bad.yaml";
  WriteFile(bad, "version: 1\n");
  auto r = Ctl({"diff", (kExamples / "minimal.yaml").string(), bad.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.yaml:1:1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taogate::policies
