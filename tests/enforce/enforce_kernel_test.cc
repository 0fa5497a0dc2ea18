// The agent's capability chooser on a kernel WITHOUT BPF LSM (this CI
// kernel): files and exec fall back to the cgroup gate's kill-on-syscall
// hooks, reported as degraded, and still stop a governed process from using
// a protected file or running a listed binary. Attacks come from a governed
// cgroup created by the test; ungoverned processes are untouched.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kernel/file_kill_testing.h"
#include "taogate/enforce/enforcer.h"

namespace taogate::enforce {
namespace {

using bpf::HookState;
using bpf::testing::kKilled;
using bpf::testing::OpenAndWrite;
using bpf::testing::RunIn;
using taogate::testing::ReadFile;

const Capability* Row(const std::vector<Capability>& rows, const std::string& name) {
  for (const auto& c : rows)
    if (c.name == name) return &c;
  return nullptr;
}

int Exec(const std::string& path, const std::string& marker) {
  // A shell script would exec /bin/sh, not the listed binary: exec the copy
  // of `touch` itself; if it runs, the marker appears.
  execl(path.c_str(), "touch", marker.c_str(), static_cast<char*>(nullptr));
  return 20;
}

// The fallback tests' fixture: a gate on this test's governed subtree and a
// directory of files.
class EnforceKernelTest : public bpf::testing::FileKillTest {
 protected:
  void SetUp() override {
    FileKillTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = MakeFile("records.sqlite", "SQLite format 3");
    std::filesystem::copy_file("/usr/bin/touch", dir_ + "/listed-touch");
    chmod((dir_ + "/listed-touch").c_str(), 0755);
  }
  std::unique_ptr<Enforcer> Open(LsmMode mode = LsmMode::kAuto) {
    EnforcerOptions o;
    o.cgroup2_mount = *bpf::Cgroup2Mount();
    o.governed_cgroup = root_.path();
    o.lsm = mode;
    o.protected_pids = {getpid()};
    auto e = Enforcer::Open(gate_.get(), o);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }
  std::string db_;
};

TEST_F(EnforceKernelTest, WithoutLsmFilesAndExecAreDegradedKillOnSyscall) {
  auto e = Open();
  ASSERT_NE(e, nullptr);
  if (e->lsm()) GTEST_SKIP() << "this kernel has BPF LSM; the VM test covers it";
  auto rows = e->Capabilities();
  ASSERT_NE(Row(rows, "files"), nullptr);
  EXPECT_EQ(Row(rows, "files")->mechanism, Mechanism::kKillOnSyscall);
  EXPECT_NE(Row(rows, "files")->state, HookState::kEnforcing);
  EXPECT_EQ(Row(rows, "self-protection")->state, HookState::kAbsent);
  EXPECT_EQ(Row(rows, "network-inet")->state, HookState::kEnforcing);

  auto rule = ParseFileRule("w:" + db_);
  ASSERT_TRUE(rule.ok());
  ASSERT_TRUE(e->Protect(*rule).ok());
  rows = e->Capabilities();
  EXPECT_EQ(Row(rows, "files")->state, HookState::kDegraded) << Row(rows, "files")->detail;
  EXPECT_FALSE(Row(rows, "files")->detail.empty());
}

TEST_F(EnforceKernelTest, GovernedWriterIsKilledBeforeItWritesReadersAndOthersAreNot) {
  auto e = Open();
  ASSERT_NE(e, nullptr);
  if (e->lsm()) GTEST_SKIP() << "this kernel has BPF LSM; the VM test covers it";
  ASSERT_TRUE(e->Protect(*ParseFileRule("w:" + db_)).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_WRONLY); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_RDWR | O_APPEND); }), kKilled);
  EXPECT_EQ(ReadFile(db_), "SQLite format 3");
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_RDONLY); }), 0);
  // Another name for the same inode is the same file.
  ASSERT_EQ(link(db_.c_str(), (dir_ + "/alias").c_str()), 0);
  EXPECT_EQ(RunIn(b_.path(), [&] { return OpenAndWrite(dir_ + "/alias", O_WRONLY); }), kKilled);
  // Ungoverned: untouched.
  EXPECT_EQ(RunIn("", [&] { return OpenAndWrite(db_, O_WRONLY | O_APPEND); }), 0);
  EXPECT_EQ(ReadFile(db_), "SQLite format 3PWNED");
  // Unprotected: the governed writer works again.
  ASSERT_TRUE(e->Unprotect(db_).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_WRONLY | O_APPEND); }), 0);
  EXPECT_FALSE(e->Unprotect(db_).ok());
}

TEST_F(EnforceKernelTest, GovernedExecOfListedBinaryNeverRunsIt) {
  auto e = Open();
  ASSERT_NE(e, nullptr);
  if (e->lsm()) GTEST_SKIP() << "this kernel has BPF LSM; the VM test covers it";
  const std::string tool = dir_ + "/listed-touch";
  ASSERT_TRUE(e->Protect(*ParseExecRule(tool)).ok());
  const std::string m1 = dir_ + "/ran-governed", m2 = dir_ + "/ran-ungoverned";
  EXPECT_EQ(RunIn(a_.path(), [&] { return Exec(tool, m1); }), kKilled);
  EXPECT_FALSE(std::filesystem::exists(m1)) << "the listed binary ran in a governed cgroup";
  EXPECT_EQ(RunIn("", [&] { return Exec(tool, m2); }), 0);
  EXPECT_TRUE(std::filesystem::exists(m2));
  // Unlisted binaries still run for governed workloads.
  EXPECT_EQ(RunIn(a_.path(), [&] { return Exec("/usr/bin/touch", m1); }), 0);
  EXPECT_TRUE(std::filesystem::exists(m1));
}

// Two sources naming the same file never replace each other's rule: the
// inode carries the union, and removing one source's rule keeps the other's.
TEST_F(EnforceKernelTest, RulesOfTwoSourcesOnOneFileCombine) {
  auto e = Open();
  ASSERT_NE(e, nullptr);
  if (e->lsm()) GTEST_SKIP() << "this kernel has BPF LSM; the VM test covers it";
  const std::string tool = dir_ + "/listed-touch";
  ASSERT_TRUE(e->Protect(*ParseFileRule("w:" + tool), "config").ok());
  ASSERT_TRUE(e->Protect(*ParseExecRule(tool), "governor").ok());
  const std::string m = dir_ + "/ran";
  EXPECT_EQ(RunIn(a_.path(), [&] { return Exec(tool, m); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(tool, O_WRONLY | O_APPEND); }), kKilled);
  // The governor drops its exec rule: the config's write rule stays.
  ASSERT_TRUE(e->Unprotect(*ParseExecRule(tool), "governor").ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(tool, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] { return Exec(tool, m); }), 0);
  EXPECT_TRUE(std::filesystem::exists(m));
  // A governor rule on the same path does not lift the config's either.
  ASSERT_TRUE(e->Protect(*ParseFileRule("rw:" + tool), "governor").ok());
  ASSERT_TRUE(e->Unprotect(tool, "governor").ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(tool, O_WRONLY | O_APPEND); }), kKilled);
}

// A protected path replaced by another file: re-protecting it moves the rule
// to the new inode, and the old inode keeps the rule of a hard link to it.
TEST_F(EnforceKernelTest, ReprotectingAReplacedFileKeepsHardLinkRules) {
  auto e = Open();
  ASSERT_NE(e, nullptr);
  if (e->lsm()) GTEST_SKIP() << "this kernel has BPF LSM; the VM test covers it";
  const std::string link_path = dir_ + "/records-link";
  ASSERT_EQ(link(db_.c_str(), link_path.c_str()), 0);
  ASSERT_TRUE(e->Protect(*ParseFileRule("w:" + db_)).ok());
  ASSERT_TRUE(e->Protect(*ParseFileRule("w:" + link_path)).ok());
  // Replace db_ with a new file (new inode), then re-protect db_.
  std::ofstream(dir_ + "/new.sqlite") << "new";
  ASSERT_EQ(rename((dir_ + "/new.sqlite").c_str(), db_.c_str()), 0);
  ASSERT_TRUE(e->Protect(*ParseFileRule("w:" + db_)).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(link_path, O_WRONLY | O_APPEND); }), kKilled)
      << "the old inode lost the hard link's rule";
  // Dropping the link's rule frees the old inode; db_'s rule stays.
  ASSERT_TRUE(e->Unprotect(link_path).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(link_path, O_WRONLY | O_APPEND); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_WRONLY | O_APPEND); }), kKilled);
}

// A restarted agent: the previous agent's pinned rules keep enforcing until
// the new one has applied its own rules and commits; then a rule nobody
// wants any more (dropped from the config meanwhile) is gone.
TEST_F(EnforceKernelTest, CommitDropsRulesNoLongerWantedButNotBefore) {
  if (auto probe = Open(); probe == nullptr || probe->lsm()) GTEST_SKIP() << "needs the fallback";
  const std::string other = dir_ + "/other.db";
  std::ofstream(other) << "other";
  {
    auto e1 = Open();
    ASSERT_NE(e1, nullptr);
    ASSERT_TRUE(e1->Protect(*ParseFileRule("w:" + db_)).ok());
    ASSERT_TRUE(e1->Commit().ok());
  }  // the agent is gone; the rule stays pinned
  auto e2 = Open();
  ASSERT_NE(e2, nullptr);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_WRONLY | O_APPEND); }), kKilled)
      << "a restart must not open a gap";
  ASSERT_TRUE(e2->Protect(*ParseFileRule("w:" + other)).ok());
  ASSERT_TRUE(e2->Commit().ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(db_, O_WRONLY | O_APPEND); }), 0)
      << "a rule dropped from the config survived the restart";
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(other, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(gate_->ProtectedInodeCount().value_or(99), 1u);
}

TEST_F(EnforceKernelTest, RulesNeedAnExistingPathAndValidBits) {
  auto e = Open();
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->Protect(*ParseFileRule("w:" + dir_ + "/missing")).ok());
  EXPECT_EQ(e->Protect(PathRule{db_, 0, false}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->Protect(PathRule{dir_, bpf::TG_DENY_EXEC, false}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(e->Rules().empty());
}

TEST_F(EnforceKernelTest, RequireLsmRefusesToStartWithoutIt) {
  EnforcerOptions o;
  o.cgroup2_mount = *bpf::Cgroup2Mount();
  o.governed_cgroup = root_.path();
  o.lsm = LsmMode::kRequire;
  auto e = Enforcer::Open(gate_.get(), o);
  if (e.ok() && (*e)->lsm()) GTEST_SKIP() << "this kernel has BPF LSM";
  EXPECT_FALSE(e.ok());
}

TEST_F(EnforceKernelTest, LsmOffIsReportedAsConfigured) {
  auto e = Open(LsmMode::kOff);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->lsm());
  EXPECT_EQ(e->lsm_detail(), "disabled by configuration");
}

}  // namespace
}  // namespace taogate::enforce
