// The agent's config errors as an operator reads them, from the real
// taogate-agent binary: FILE:LINE:COL on every error the file caused, enum
// values outside their set refused, and a config that fails its checks
// leaves no file behind (preflight.h). No root needed: nothing gets that far.
#include <gtest/gtest.h>

#include <filesystem>

#include "testing/testing.h"

namespace taogate::agent {
namespace {

namespace fs = std::filesystem;
using ::taogate::testing::BinPath;
using ::taogate::testing::CommandResult;
using ::taogate::testing::RunCommand;
using ::taogate::testing::TempDir;
using ::taogate::testing::WriteFile;

class ConfigErrorsTest : public ::testing::Test {
 protected:
  // A config whose paths are all under the temp dir; `extra` is appended.
  std::string Write(const std::string& extra) {
    const fs::path p = dir_.path() / "agent.yaml";
    WriteFile(p, "node_id: n1\n"
                 "governed_cgroup: /taogate-config-test\n"
                 "ledger_dir: " + Path("state/ledger") + "\n"
                 "ledger_key: " + Path("state/ledger.key") + "\n"
                 "workload_socket: " + Path("run/agent.sock") + "\n"
                 "operator_socket: " + Path("run/operator.sock") + "\n"
                 "pin_root: " + Path("bpf/taogate") + "\n"
                 "trust_bundle: " + Path("trust.json") + "\n"
                 "metrics_port: -1\n" + extra);
    return p.string();
  }
  std::string Path(const std::string& rel) const { return (dir_.path() / rel).string(); }
  CommandResult Agent(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BinPath("taogate-agent")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  // Only agent.yaml (and what the test made) in the temp dir.
  std::vector<std::string> Created() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path()))
      if (e.path().filename() != "agent.yaml" && e.path().filename() != "trust.json") out.push_back(e.path());
    return out;
  }

  TempDir dir_;
};

TEST_F(ConfigErrorsTest, UnknownEnumValueIsRefusedWithFileLineColumn) {
  const std::string cfg = Write("log_level: verbose\n");
  CommandResult r = Agent({"--config", cfg});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(cfg + ":10:12: config key log_level: 'verbose' is not one of debug | info | warn | error"),
            std::string::npos)
      << r.err;
  r = Agent({"--config", Write("workloads: podz\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(":10:12: config key workloads: 'podz' is not one of governed-root | pods"), std::string::npos)
      << r.err;
  EXPECT_TRUE(Created().empty());
}

TEST_F(ConfigErrorsTest, UnknownKeyAndBadTypeCarryTheirLine) {
  CommandResult r = Agent({"--config", Write("metrics_prot: 9000\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(":10:1: config: unknown key metrics_prot"), std::string::npos) << r.err;
  r = Agent({"--config", Write("dns:\n  tries: many\n")});
  EXPECT_NE(r.err.find(":11:10: config key dns.tries"), std::string::npos) << r.err;
}

// A value FinalizeConfig refuses still names where the key was read.
TEST_F(ConfigErrorsTest, RangeErrorsNameTheLineToo) {
  WriteFile(Path("trust.json"), "{}");
  CommandResult r = Agent({"--config", Write("max_grant_ms: 0\n"), "--check-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(":10:1: config max_grant_ms: 1..3600000"), std::string::npos) << r.err;
}

// Everything is checked before anything is created: the missing trust
// bundle is reported and no ledger directory, key, socket or pin appears.
TEST_F(ConfigErrorsTest, BadConfigLeavesNoFileBehind) {
  CommandResult r = Agent({"--config", Write("")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(":8:1: config trust_bundle: " + Path("trust.json")), std::string::npos) << r.err;
  EXPECT_TRUE(Created().empty()) << ::testing::PrintToString(Created());

  WriteFile(Path("trust.json"), "not json");  // readable, but not a bundle
  r = Agent({"--config", Write("")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Created().empty()) << r.err << ::testing::PrintToString(Created());

  r = Agent({"--config", Write("protected_files: [\"w:" + Path("no/such/file") + "\"]\n")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("config protected_files: " + Path("no/such/file")), std::string::npos) << r.err;
  EXPECT_TRUE(Created().empty()) << ::testing::PrintToString(Created());
}

TEST_F(ConfigErrorsTest, CheckConfigRunsThePreflightToo) {
  CommandResult r = Agent({"--config", Write(""), "--check-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config trust_bundle: "), std::string::npos) << r.err;
  EXPECT_TRUE(Created().empty());
}

}  // namespace
}  // namespace taogate::agent
