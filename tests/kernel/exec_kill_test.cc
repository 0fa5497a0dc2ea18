// Kill-on-exec fallback (tp_btf/sched_process_exec) as an attack, and the
// lifecycle of both fallback hooks: attached only while an inode is
// protected, reported DEGRADED, adopted from pins, detached with the last
// inode, untouched by quarantine changes.
#include <filesystem>

#include "kernel/file_kill_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

using taogate::testing::ReadFile;

class ExecKillTest : public FileKillTest {
 protected:
  // A private copy of /bin/sh (its own inode, so protecting it leaves the
  // system's shell alone).
  std::string CopyShell(const std::string& name) {
    std::string p = dir_ + "/" + name;
    std::error_code ec;
    std::filesystem::copy_file("/bin/sh", p, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(chmod(p.c_str(), 0755), 0);
    return p;
  }
};

// execs `shell -c 'echo ran > marker'`; returns errno if exec fails.
int ExecWritingMarker(const std::string& shell, const std::string& marker) {
  std::string cmd = "echo ran > " + marker;
  execl(shell.c_str(), "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
  return errno;
}

TEST_F(ExecKillTest, ExecOfProtectedBinaryIsKilledBeforeItRunsUserCode) {
  std::string locked = CopyShell("locked-sh"), unlisted = CopyShell("free-sh");
  std::string m1 = dir_ + "/marker-locked", m2 = dir_ + "/marker-free";
  ProtectPath(locked, TG_DENY_EXEC);
  EXPECT_EQ(RunIn(a_.path(), [&] { return ExecWritingMarker(locked, m1); }), kKilled);
  EXPECT_FALSE(Exists(m1));
  // Through a symlink and a hard link it is the same inode.
  std::string sym = dir_ + "/sym-sh", hard = dir_ + "/hard-sh";
  ASSERT_EQ(symlink(locked.c_str(), sym.c_str()), 0);
  ASSERT_EQ(link(locked.c_str(), hard.c_str()), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return ExecWritingMarker(sym, m1); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] { return ExecWritingMarker(hard, m1); }), kKilled);
  EXPECT_FALSE(Exists(m1));
  // An unlisted binary runs; reading the listed one is not an exec.
  EXPECT_EQ(RunIn(a_.path(), [&] { return ExecWritingMarker(unlisted, m2); }), 0);
  EXPECT_EQ(ReadFile(m2), "ran\n");
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(locked, O_RDONLY); }), 0);
}

TEST_F(ExecKillTest, SubtreeExecRuleAndUngovernedExec) {
  std::string bin = dir_ + "/bin";
  ASSERT_EQ(mkdir(bin.c_str(), 0755), 0);
  std::string tool = bin + "/tool";
  std::filesystem::copy_file("/bin/sh", tool);
  ASSERT_EQ(chmod(tool.c_str(), 0755), 0);
  std::string marker = dir_ + "/marker";
  ProtectPath(bin, TG_DENY_EXEC, /*subtree=*/true);
  EXPECT_EQ(RunIn(b_.path(), [&] { return ExecWritingMarker(tool, marker); }), kKilled);
  EXPECT_FALSE(Exists(marker));
  EXPECT_EQ(RunIn("", [&] { return ExecWritingMarker(tool, marker); }), 0);
  EXPECT_EQ(ReadFile(marker), "ran\n");
}

TEST_F(ExecKillTest, ExecKillEmitsAnEventWithTheInode) {
  std::string locked = CopyShell("locked-sh");
  bpf::tg_inode_key k = KeyOf(locked);
  ProtectPath(locked, TG_DENY_EXEC);
  DrainEvents();
  events_.clear();
  EXPECT_EQ(RunIn(a_.path(), [&] { return ExecWritingMarker(locked, dir_ + "/m"); }), kKilled);
  DrainEvents();
  const DecisionEvent* ev = nullptr;
  for (const DecisionEvent& e : events_) {
    if (e.hook == "exec") ev = &e;
  }
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->verdict, Verdict::kKill);
  EXPECT_EQ(ev->ino, k.ino);
  EXPECT_EQ(ev->dev, k.dev);
  EXPECT_EQ(ev->cgroup_id, IdOf(a_.path()));
}

TEST_F(ExecKillTest, HooksAreAttachedOnlyWhileAnInodeIsProtected) {
  ProbeReport before = gate_->Probe();
  for (const char* name : {"file_open", "exec", "fork"}) {
    const HookStatus* h = Find(before, name);
    ASSERT_NE(h, nullptr) << name;
    EXPECT_EQ(h->state, HookState::kAbsent);
    EXPECT_NE(h->detail.find("no protected files"), std::string::npos) << h->detail;
  }
  std::string f = MakeFile("secret"), g = MakeFile("other");
  ProtectPath(f, TG_DENY_WRITE);
  ProtectPath(g, TG_DENY_READ);
  ProtectPath(g, TG_DENY_WRITE);  // replaces g's bits; still one entry
  EXPECT_EQ(*gate_->ProtectedInodeCount(), 2u);
  for (const ProbeReport& r : {gate_->Probe(), Gate::ProbePinned(pin_root_)}) {
    const HookStatus* open_hook = Find(r, "file_open");
    const HookStatus* exec_hook = Find(r, "exec");
    ASSERT_TRUE(open_hook && exec_hook);
    EXPECT_EQ(open_hook->state, HookState::kDegraded);
    EXPECT_NE(open_hook->detail.find("O_CREAT/O_TRUNC"), std::string::npos);
    EXPECT_EQ(exec_hook->state, HookState::kDegraded);
    EXPECT_NE(exec_hook->detail.find("before it runs any user code"), std::string::npos);
    const HookStatus* fork_hook = Find(r, "fork");
    ASSERT_NE(fork_hook, nullptr);
    EXPECT_EQ(fork_hook->state, HookState::kDegraded);
    EXPECT_NE(fork_hook->detail.find("CLONE_FILES"), std::string::npos);
  }
  // g's read bit was replaced: reading g is allowed now.
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(g, O_RDONLY); }), 0);
  // Quarantine changes do not touch the file hooks.
  ASSERT_TRUE(gate_->Quarantine(IdOf(a_.path()), QuarantineMode::kNetwork).ok());
  ASSERT_TRUE(gate_->Release(IdOf(a_.path())).ok());
  EXPECT_EQ(Find(gate_->Probe(), "file_open")->state, HookState::kDegraded);

  UnprotectPath(f);
  EXPECT_EQ(Find(gate_->Probe(), "file_open")->state, HookState::kDegraded);
  UnprotectPath(g);
  EXPECT_EQ(*gate_->ProtectedInodeCount(), 0u);
  for (const ProbeReport& r : {gate_->Probe(), Gate::ProbePinned(pin_root_)}) {
    EXPECT_EQ(Find(r, "file_open")->state, HookState::kAbsent);
    EXPECT_EQ(Find(r, "exec")->state, HookState::kAbsent);
    EXPECT_EQ(Find(r, "fork")->state, HookState::kAbsent);
  }
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(f, O_WRONLY | O_APPEND); }), 0);
  bpf::tg_inode_key k = KeyOf(f);
  EXPECT_EQ(gate_->UnprotectInode(k.dev, k.ino).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gate_->ProtectInode(k.dev, k.ino, 0, false).code(),
            absl::StatusCode::kInvalidArgument);
}

// Enforcement outlives the loader (pinned links) and a restarted gate adopts
// the protected inodes and re-attaches the hooks.
TEST_F(ExecKillTest, ProtectionSurvivesLoaderExitAndIsAdopted) {
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_WRITE);
  gate_.reset();
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(f, O_WRONLY | O_APPEND); }), kKilled);
  gate_ = OpenGate();
  ASSERT_NE(gate_, nullptr);
  EXPECT_TRUE(gate_->adopted());
  EXPECT_EQ(*gate_->ProtectedInodeCount(), 1u);
  EXPECT_EQ(Find(gate_->Probe(), "file_open")->state, HookState::kDegraded);
  EXPECT_EQ(Find(gate_->Probe(), "exec")->state, HookState::kDegraded);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(f, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(ReadFile(f), "original\n");
  UnprotectPath(f);
  EXPECT_EQ(Find(Gate::ProbePinned(pin_root_), "file_open")->state, HookState::kAbsent);
}

// Without the fallback loaded, protecting a file is refused (never a silent
// gap) while the rest of the gate still enforces.
TEST_F(ExecKillTest, WithoutFileHooksProtectInodeFailsClosed) {
  gate_.reset();
  ASSERT_TRUE(Gate::Detach(pin_root_).ok());
  GateOptions o;
  o.pin_root = pin_root_;
  o.governed_cgroup = root_.path();
  o.file_hooks = false;
  auto g = Gate::OpenOrAdopt(o);
  ASSERT_TRUE(g.ok()) << g.status();
  gate_ = std::move(*g);
  std::string f = MakeFile("secret");
  bpf::tg_inode_key k = KeyOf(f);
  EXPECT_EQ(gate_->ProtectInode(k.dev, k.ino, TG_DENY_WRITE, false).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*gate_->ProtectedInodeCount(), 0u);
  ASSERT_TRUE(gate_->Quarantine(IdOf(b_.path()), QuarantineMode::kNetwork).ok());
  ASSERT_TRUE(gate_->Release(IdOf(b_.path())).ok());  // a detach pass
  ProbeReport r = gate_->Probe();
  EXPECT_EQ(Find(r, "file_open")->state, HookState::kAbsent);
  EXPECT_NE(Find(r, "file_open")->detail.find("file_hooks = false"), std::string::npos);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(f, O_WRONLY | O_APPEND); }), 0);
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", prot.port); }), EPERM);
}

}  // namespace
}  // namespace taogate::bpf::testing
