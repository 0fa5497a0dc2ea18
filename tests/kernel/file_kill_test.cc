// Kill-on-open fallback (tp_btf/sys_exit), as attacks: a governed process
// that opens a protected inode for a denied access is SIGKILLed before it
// can use the fd -- under every name the inode has -- while allowed accesses
// and every ungoverned process are untouched.
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstring>

#include "kernel/file_kill_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

using taogate::testing::ReadFile;

TEST_F(FileKillTest, WriteOpenOfWriteProtectedFileIsKilledAndWritesNothing) {
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(f, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(f, O_RDWR | O_APPEND); }), kKilled);
  EXPECT_EQ(ReadFile(f), "original\n");
  // O_RDONLY|O_TRUNC truncates through a read-only file: killed (the
  // truncation itself is the documented side effect of the fallback).
  std::string g = MakeFile("second");
  ProtectPath(g, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(g, O_RDONLY | O_TRUNC); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              struct { uint64_t flags, mode, resolve; } how{O_RDONLY | O_TRUNC, 0, 0};
              long fd = syscall(SYS_openat2, AT_FDCWD, g.c_str(), &how, sizeof(how));
              return fd < 0 ? errno : 0;
            }), kKilled);
  // Reading is not denied by a write-only rule.
  std::string leak = dir_ + "/leak";
  EXPECT_EQ(RunIn(a_.path(), [&] { return ReadInto(f, leak); }), 0);
  EXPECT_EQ(ReadFile(leak), "original\n");
}

TEST_F(FileKillTest, ReadOpenOfReadProtectedFileIsKilledBeforeItLeaks) {
  std::string f = MakeFile("secret", "s3cr3t\n");
  std::string leak = dir_ + "/leak";
  ProtectPath(f, TG_DENY_READ);
  EXPECT_EQ(RunIn(a_.path(), [&] { return ReadInto(f, leak); }), kKilled);
  EXPECT_FALSE(Exists(leak));
  // Workloads nested deeper in the subtree and directly in the root too.
  auto nested = ScopedCgroup::Create(b_.path() + "/container");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(RunIn(nested->path(), [&] { return ReadInto(f, leak); }), kKilled);
  EXPECT_EQ(RunIn(root_.path(), [&] { return ReadInto(f, leak); }), kKilled);
  EXPECT_FALSE(Exists(leak));
}

TEST_F(FileKillTest, OtherNamesForTheSameInodeAreKilled) {
  std::string f = MakeFile("secret");
  std::string hard = dir_ + "/hardlink", sym = dir_ + "/symlink";
  ASSERT_EQ(link(f.c_str(), hard.c_str()), 0);
  ASSERT_EQ(symlink(f.c_str(), sym.c_str()), 0);
  ProtectPath(f, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(hard, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(sym, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              if (chdir(dir_.c_str()) != 0) return errno;
              return OpenAndWrite("./secret", O_WRONLY | O_APPEND);
            }), kKilled);
  // openat on a directory fd, and re-opening an O_PATH fd via /proc.
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int d = open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
              if (d < 0) return errno;
              int fd = openat(d, "secret", O_WRONLY | O_APPEND);
              if (fd < 0) return errno;
              return write(fd, "PWNED", 5) == 5 ? 0 : errno;
            }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int p = open(f.c_str(), O_PATH);  // neither read nor write: allowed
              if (p < 0) return errno;
              return OpenAndWrite(StrCat("/proc/self/fd/", p), O_WRONLY | O_APPEND);
            }), kKilled);
  // openat2 and creat(2) (creat is O_CREAT|O_WRONLY|O_TRUNC: the truncate is
  // a side effect the fallback cannot stop; the write never happens).
  EXPECT_EQ(RunIn(a_.path(), [&] {
              struct { uint64_t flags, mode, resolve; } how{O_WRONLY | O_APPEND, 0, 0};
              long fd = syscall(SYS_openat2, AT_FDCWD, f.c_str(), &how, sizeof(how));
              if (fd < 0) return errno;
              return write(static_cast<int>(fd), "PWNED", 5) == 5 ? 0 : errno;
            }), kKilled);
  EXPECT_EQ(ReadFile(f), "original\n");
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int fd = creat(f.c_str(), 0644);
              if (fd < 0) return errno;
              return write(fd, "PWNED", 5) == 5 ? 0 : errno;
            }), kKilled);
  EXPECT_EQ(ReadFile(f), "");  // documented limit: truncated, never written
}

// A 64-bit process can still make i386 syscalls with int $0x80 (IA32
// emulation), where open is number 5, not 2.
TEST_F(FileKillTest, CompatInt80OpenIsKilled) {
  std::string f = MakeFile("secret"), free_file = MakeFile("free");
  ProtectPath(f, TG_DENY_WRITE);
  auto int80_open = [](const std::string& path) -> int {
    void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                   -1, 0);
    if (m == MAP_FAILED) return -1000;
    std::memcpy(m, path.c_str(), path.size() + 1);
    long ret;
    asm volatile("int $0x80"
                 : "=a"(ret)
                 : "a"(5L), "b"(reinterpret_cast<long>(m)), "c"(static_cast<long>(O_WRONLY | O_APPEND)),
                   "d"(0L)
                 : "memory", "r8", "r9", "r10", "r11");
    return static_cast<int>(ret);
  };
  int probe = RunIn("", [&] {
    int fd = int80_open(free_file);
    return fd >= 0 ? 0 : 1;
  });
  if (probe != 0) GTEST_SKIP() << "int $0x80 unavailable (no IA32 emulation)";
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int fd = int80_open(free_file);
              return fd >= 0 ? 0 : 1;
            }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int fd = int80_open(f);
              if (fd < 0) return 1;
              return write(fd, "PWNED", 5) == 5 ? 0 : errno;
            }), kKilled);
  // A 32-bit syscall first must not make the next native open look like a
  // compat one (the syscall table is chosen per syscall).
  EXPECT_EQ(RunIn(a_.path(), [&] {
              if (int80_open(free_file) < 0) return 1;
              return OpenAndWrite(f, O_WRONLY | O_APPEND);
            }), kKilled);
  EXPECT_EQ(ReadFile(f), "original\n");
}

TEST_F(FileKillTest, SubtreeRuleCoversEverythingBelowTheDirectory) {
  std::string d = dir_ + "/vault", sub = d + "/deep";
  ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  std::string inner = sub + "/record", outside = MakeFile("outside");
  taogate::testing::WriteFile(inner, "original\n");
  ProtectPath(d, TG_DENY_WRITE, /*subtree=*/true);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(inner, O_WRONLY | O_APPEND); }), kKilled);
  EXPECT_EQ(ReadFile(inner), "original\n");
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(inner, O_RDONLY); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(outside, O_WRONLY | O_APPEND); }), 0);
  // Creating a new file below it: killed, but the (empty) file exists --
  // the documented limit of a fallback that acts after the open.
  std::string created = sub + "/new";
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(created, O_WRONLY | O_CREAT); }), kKilled);
  EXPECT_EQ(ReadFile(created), "");
}

TEST_F(FileKillTest, RuleWithoutSubtreeFlagCoversOnlyTheDirectoryItself) {
  std::string d = dir_ + "/plain";
  ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  std::string inner = d + "/file";
  taogate::testing::WriteFile(inner, "original\n");
  ProtectPath(d, TG_DENY_READ);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(inner, O_WRONLY | O_APPEND); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(d, O_RDONLY | O_DIRECTORY); }), kKilled);
}

TEST_F(FileKillTest, UngovernedProcessesAreUntouched) {
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_READ | TG_DENY_WRITE);
  EXPECT_EQ(RunIn("", [&] { return OpenAndWrite(f, O_WRONLY | O_APPEND); }), 0);
  EXPECT_EQ(RunIn("", [&] { return ReadInto(f, dir_ + "/copy"); }), 0);
  EXPECT_EQ(OpenAndWrite(f, O_WRONLY | O_APPEND), 0);  // this very test process
  EXPECT_EQ(ReadFile(f), "original\nPWNEDPWNED");
}

TEST_F(FileKillTest, KillEmitsAnEventWithTheInode) {
  std::string f = MakeFile("secret");
  bpf::tg_inode_key k = KeyOf(f);
  ProtectPath(f, TG_DENY_WRITE);
  DrainEvents();
  events_.clear();
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(f, O_WRONLY); }), kKilled);
  DrainEvents();
  const DecisionEvent* ev = nullptr;
  for (const DecisionEvent& e : events_) {
    if (e.hook == "file_open") ev = &e;
  }
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->verdict, Verdict::kKill);
  EXPECT_EQ(ev->ino, k.ino);
  EXPECT_EQ(ev->dev, k.dev);
  EXPECT_EQ(ev->proto, TG_DENY_WRITE);
  EXPECT_EQ(ev->cgroup_id, IdOf(a_.path()));
  EXPECT_NE(ev->pid, 0u);
  auto counters = gate_->Counters();
  ASSERT_TRUE(counters.ok());
  EXPECT_GE((*counters)["kill_open"], 1u);
}

}  // namespace
}  // namespace taogate::bpf::testing
