// File and exec governance through the real agent: rules from the agent's
// config (protected_files, protected_binaries) are enforced by whatever
// mechanism the kernel offers (BPF LSM, or on this CI kernel the gate's
// kill-on-syscall fallback), the operator status reports which, and each
// denial reaches the node ledger. Attacks come from a governed workload.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/agent_harness.h"
#include "taogate/ledger/record.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

const v1::Capability* Cap(const v1::StatusResponse& st, const std::string& name) {
  for (const auto& c : st.capabilities())
    if (c.capability() == name) return &c;
  return nullptr;
}

class FilesKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    files_ = dir_->path().string() + "/files";
    std::filesystem::create_directories(files_ + "/creds");
    db_ = files_ + "/records.sqlite";
    std::ofstream(db_) << "rows";
    std::ofstream(files_ + "/creds/token") << "s3cr3t";
    chmod(db_.c_str(), 0666);
    tool_ = files_ + "/listed-touch";
    std::filesystem::copy_file("/usr/bin/touch", tool_);
    chmod(tool_.c_str(), 0755);
    w1_ = MakeWorkload("w1");
  }
  std::string Rules() const {
    return "protected_files: [\"w:" + db_ + "\", \"rw:" + files_ + "/creds/\"]\n" +
           "protected_binaries: [\"" + tool_ + "\"]\n";
  }
  std::string files_, db_, tool_;
  uint64_t w1_ = 0;
};

TEST_F(FilesKernelTest, StatusSaysWhichMechanismEnforcesFilesAndExec) {
  StartAgent(Rules());
  auto st = Operator()->Status();
  ASSERT_TRUE(st.ok()) << st.status();
  for (const char* name : {"network-inet", "network-unix", "files", "exec", "self-protection", "kill-switch"})
    ASSERT_NE(Cap(*st, name), nullptr) << name;
  EXPECT_EQ(Cap(*st, "network-inet")->state(), "enforcing");
  const v1::Capability* files = Cap(*st, "files");
  if (files->mechanism() == "bpf-lsm") {
    EXPECT_EQ(files->state(), "enforcing");
  } else {
    // No BPF LSM here: the fallback, honestly reported.
    EXPECT_EQ(files->mechanism(), "kill-on-syscall");
    EXPECT_EQ(files->state(), "degraded");
    EXPECT_EQ(Cap(*st, "exec")->state(), "degraded");
    EXPECT_EQ(Cap(*st, "self-protection")->state(), "absent");
  }
  std::string ctl = taogate::testing::BinPath("taogatectl");
  auto probe = taogate::testing::RunCommand({ctl, "probe", "--pin-root", pin_root_, "--json"});
  EXPECT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_NE(probe.out.find("\"capability\": \"files\""), std::string::npos) << probe.out;
}

TEST_F(FilesKernelTest, GovernedWorkloadCannotWriteProtectedFileNorReadCredentials) {
  StartAgent(Rules());
  auto w = RunIn("w1", {"append", db_});
  EXPECT_FALSE(w.Has("WROTE")) << w.out;
  EXPECT_EQ(taogate::testing::ReadFile(db_), "rows");
  auto r = RunIn("w1", {"append", files_ + "/creds/token"});
  EXPECT_FALSE(r.Has("WROTE")) << r.out;
  EXPECT_EQ(taogate::testing::ReadFile(files_ + "/creds/token"), "s3cr3t");
  // The denial is evidence.
  bool found = false;
  for (int i = 0; i < 30 && !found; ++i) {
    for (const auto& rec : Find(RecordKind::kDenied))
      for (const auto& [k, v] : rec.fields)
        if (k == "target" && (v.rfind("file:", 0) == 0 || v.rfind("ino:", 0) == 0)) found = true;
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(found) << "no DENIED record for the file";
}

TEST_F(FilesKernelTest, GovernedWorkloadCannotRunListedBinary) {
  StartAgent(Rules());
  std::string marker = files_ + "/ran";
  RunIn("w1", {"exec", tool_, marker});
  EXPECT_FALSE(std::filesystem::exists(marker)) << "the listed binary ran in a governed workload";
  RunIn("w1", {"exec", "/usr/bin/touch", marker});
  EXPECT_TRUE(std::filesystem::exists(marker)) << "an unlisted binary must still run";
}

TEST_F(FilesKernelTest, BadRuleRefusesToStartWithTheReason) {
  std::string d = dir_->path().string();
  // A rule for a file that does not exist cannot be enforced by inode: the
  // agent must not start as if it were.
  std::string missing = files_ + "/missing.db";
  std::string bin = taogate::testing::BinPath("taogate-agent");
  std::ostringstream y;
  y << "node_id: n\ncgroup2_mount: " << cgroup2_ << "\ngoverned_cgroup: " << governed_rel_ << "\npin_root: "
    << pin_root_ << "\nledger_dir: " << ledger_dir_ << "\nworkload_socket: " << workload_sock_
    << "\noperator_socket: " << operator_sock_ << "\ntrust_bundle: " << d << "/trust.json\nstrict_keys: false\n"
    << "metrics_port: -1\nprotected_files: [\"w:" << missing << "\"]\n";
  taogate::testing::WriteFile(config_path_, y.str());
  auto out = taogate::testing::RunCommand({bin, "--config", config_path_});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE((out.out + out.err).find("missing.db"), std::string::npos) << out.out << out.err;
}

}  // namespace
}  // namespace taogate::agent::testing
