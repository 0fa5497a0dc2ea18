// Holes a reviewer found in the kill-on-open fallback, as attacks:
// fds that reach a governed process without one of its own open*() calls
// (a shared fd table, pidfd_getfd, io_uring), and a parent walk that gave
// up after a fixed depth. Each test fails against the pre-fix programs.
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <cstring>
#include <thread>

#include "kernel/file_kill_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

using taogate::testing::ReadFile;

constexpr long kIoUringSetup = 425;  // both syscall tables

// io_uring_setup(4 entries); 0 if it returned a ring fd, else errno.
int IoUringSetup() {
  alignas(8) unsigned char params[120] = {};  // struct io_uring_params, all zero
  long fd = syscall(kIoUringSetup, 4, params);
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

// Lists the pids in a cgroup.
std::string ProcsOf(const std::string& cgroup) {
  return ReadFile(cgroup + "/cgroup.procs");
}

// Waits (bounded) until the cgroup has no processes; false on timeout.
bool WaitEmpty(const std::string& cgroup) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ProcsOf(cgroup).empty()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// H1: clone(CLONE_FILES) without CLONE_THREAD shares the fd table with a
// second process. The child opens the protected file and dies, but its fd
// stays in the table the parent shares; the parent then writes through it.
TEST_F(FileKillTest, CloneFilesChildCannotHandTheFdToItsParent) {
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int guess = dup(0);  // the lowest free slot: where the child's open lands
              if (guess < 0) return errno;
              close(guess);
              long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, nullptr, nullptr, nullptr,
                                 nullptr);
              if (pid < 0) return errno;
              if (pid == 0) {
                int fd = open(f.c_str(), O_WRONLY | O_APPEND);
                _exit(fd == guess ? 0 : 1);
              }
              int ws = 0;
              while (waitpid(static_cast<pid_t>(pid), &ws, 0) < 0 && errno == EINTR) {
              }
              if (write(guess, "PWNED", 5) != 5) return errno;  // the inherited fd
              return 0;
            }), kKilled);
  EXPECT_EQ(ReadFile(f), "original\n");
  EXPECT_TRUE(WaitEmpty(a_.path()));
}

// The child of such a clone is killed too, before it runs user code: it
// never gets to create its marker file.
TEST_F(FileKillTest, CloneFilesChildIsKilledBeforeItRuns) {
  std::string f = MakeFile("secret"), marker = dir_ + "/marker";
  ProtectPath(f, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, nullptr, nullptr, nullptr,
                                 nullptr);
              if (pid < 0) return errno;
              if (pid == 0) {
                // The outcome is what the parent checks (killed, marker unwritten).
                (void)OpenAndWrite(marker, O_WRONLY | O_CREAT);
                sleep(5);  // bounded: outlives the check below if not killed
                _exit(0);
              }
              int ws = 0;
              while (waitpid(static_cast<pid_t>(pid), &ws, 0) < 0 && errno == EINTR) {
              }
              return 0;
            }), kKilled);
  ASSERT_TRUE(WaitEmpty(a_.path())) << "clone child survived: " << ProcsOf(a_.path());
  EXPECT_FALSE(Exists(marker));
}

// What stays allowed: threads (same thread group) in a governed process,
// ordinary fork, and CLONE_FILES outside the governed subtree.
TEST_F(FileKillTest, ThreadsForkAndUngovernedCloneFilesAreUntouched) {
  std::string f = MakeFile("secret"), free_file = MakeFile("free");
  ProtectPath(f, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int rc = -1;
              std::thread t([&] { rc = OpenAndWrite(free_file, O_WRONLY | O_APPEND); });
              t.join();
              if (rc != 0) return rc;
              pid_t pid = fork();
              if (pid == 0) _exit(OpenAndWrite(free_file, O_WRONLY | O_APPEND));
              int ws = 0;
              waitpid(pid, &ws, 0);
              return WIFEXITED(ws) ? WEXITSTATUS(ws) : 100;
            }), 0);
  EXPECT_EQ(RunIn("", [&] {
              long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, nullptr, nullptr, nullptr,
                                 nullptr);
              if (pid < 0) return errno;
              if (pid == 0) _exit(OpenAndWrite(f, O_WRONLY | O_APPEND));
              int ws = 0;
              waitpid(static_cast<pid_t>(pid), &ws, 0);
              return WIFEXITED(ws) ? WEXITSTATUS(ws) : 100;
            }), 0);
  EXPECT_EQ(ReadFile(f), "original\nPWNED");
}

// H2: io_uring opens never pass through the syscall hooks, so a governed
// io_uring_setup is killed while any file is protected.
TEST_F(FileKillTest, IoUringSetupIsKilledWhileFilesAreProtected) {
  int probe = RunIn("", IoUringSetup);
  if (probe == ENOSYS || probe == EPERM) GTEST_SKIP() << "io_uring disabled on this kernel";
  ASSERT_EQ(probe, 0);
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), IoUringSetup), kKilled);
  EXPECT_EQ(RunIn("", IoUringSetup), 0);  // ungoverned: untouched
  UnprotectPath(f);
  EXPECT_EQ(RunIn(a_.path(), IoUringSetup), 0);  // nothing protected: allowed
}

// A ring set up before the first rule: its next io_uring_enter is killed.
TEST_F(FileKillTest, IoUringEnterOnAnOlderRingIsKilled) {
  int probe = RunIn("", IoUringSetup);
  if (probe == ENOSYS || probe == EPERM) GTEST_SKIP() << "io_uring disabled on this kernel";
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  Child child(a_.path(), [&] {
    alignas(8) unsigned char params[120] = {};
    long ring = syscall(kIoUringSetup, 4, params);
    if (ring < 0) return errno;
    if (write(ready[1], "r", 1) != 1) return 201;
    char c;
    if (read(go[0], &c, 1) != 1) return 202;
    long n = syscall(kIoUringSetup + 1, static_cast<int>(ring), 0, 0, 0, nullptr, 0);
    return n < 0 ? errno : 0;
  });
  ASSERT_GT(child.pid(), 0);
  close(ready[1]);
  close(go[0]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);  // ring exists, nothing protected yet
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_WRITE);
  ASSERT_EQ(write(go[1], "g", 1), 1);
  std::optional<int> st = child.Wait(10000);
  close(ready[0]);
  close(go[1]);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(*st, kKilled);
}

// H2: pidfd_getfd copies an open fd out of another process: checked like an
// open of the fd's inode.
TEST_F(FileKillTest, PidfdGetfdOfAProtectedFdIsKilled) {
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_WRITE);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Child helper("", [&] {  // ungoverned: may open it
    int fd = open(f.c_str(), O_WRONLY | O_APPEND);
    if (write(p[1], &fd, sizeof(fd)) != sizeof(fd)) return 1;
    pause();
    return 0;
  });
  ASSERT_GT(helper.pid(), 0);
  int target = -1;
  ASSERT_EQ(read(p[0], &target, sizeof(target)), static_cast<ssize_t>(sizeof(target)));
  close(p[0]);
  close(p[1]);
  ASSERT_GE(target, 0);
  auto steal = [&] {
    long pidfd = syscall(SYS_pidfd_open, helper.pid(), 0);
    if (pidfd < 0) return errno;
    long fd = syscall(SYS_pidfd_getfd, static_cast<int>(pidfd), target, 0);
    if (fd < 0) return errno;
    return write(static_cast<int>(fd), "PWNED", 5) == 5 ? 0 : errno;
  };
  EXPECT_EQ(RunIn(a_.path(), steal), kKilled);
  EXPECT_EQ(ReadFile(f), "original\n");
  EXPECT_EQ(RunIn("", steal), 0);  // control: the call works ungoverned
  EXPECT_EQ(ReadFile(f), "original\nPWNED");
}

// Is thread `tid` of this process blocked (state S) inside syscall `nr`?
bool BlockedIn(pid_t tid, long nr) {
  std::string base = StrCat("/proc/self/task/", tid);
  std::ifstream sc(base + "/syscall");
  long cur = -1;
  if (!(sc >> cur) || cur != nr) return false;
  std::string stat = ReadFile(base + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S';
}

// M3: openat2's how->flags are re-read from user memory at sys_exit. A
// thread blocks in openat2(fifo, O_RDONLY|O_TRUNC) while a sibling unmaps
// `how`; when the open completes the flags cannot be read back. That must
// count as O_TRUNC (a write), not as flags 0.
TEST_F(FileKillTest, Openat2WithUnreadableHowCountsAsTruncate) {
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  ProtectPath(fifo, TG_DENY_WRITE);
  int sync[2];
  ASSERT_EQ(pipe(sync), 0);
  Child child(a_.path(), [&] {
    void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 201;
    auto* how = static_cast<uint64_t*>(page);
    how[0] = O_RDONLY | O_TRUNC;  // flags, mode, resolve
    how[1] = how[2] = 0;
    std::atomic<pid_t> tid{0};
    long result = 0;
    std::thread opener([&] {
      tid = static_cast<pid_t>(syscall(SYS_gettid));
      long fd = syscall(SYS_openat2, AT_FDCWD, fifo.c_str(), page, 3 * sizeof(uint64_t));
      result = fd < 0 ? -errno : fd;
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (tid.load() == 0 || !BlockedIn(tid.load(), SYS_openat2)) {
      if (std::chrono::steady_clock::now() > deadline) _exit(202);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (munmap(page, 4096) != 0) _exit(203);
    if (write(sync[1], "x", 1) != 1) _exit(204);  // the test opens the writer end
    opener.join();
    return result >= 0 ? 0 : static_cast<int>(-result);
  });
  ASSERT_GT(child.pid(), 0);
  close(sync[1]);
  char c;
  ASSERT_EQ(read(sync[0], &c, 1), 1);
  close(sync[0]);
  int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // ungoverned
  ASSERT_GE(w, 0) << std::strerror(errno);
  std::optional<int> st = child.Wait(10000);
  close(w);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(*st, kKilled);
}

std::string MakeDeep(const std::string& base, int levels) {
  std::string d = base;
  for (int i = 0; i < levels; ++i) {
    d += "/d";
    if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) return "";
  }
  return d;
}

// H3: the parent walk used to stop after 16 levels, so a file 17+ levels
// below a protected directory matched nothing.
TEST_F(FileKillTest, DeepFileUnderAProtectedSubtreeIsKilled) {
  std::string vault = dir_ + "/vault", open_dir = dir_ + "/open";
  ASSERT_EQ(mkdir(vault.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(open_dir.c_str(), 0755), 0);
  ProtectPath(vault, TG_DENY_WRITE, /*subtree=*/true);
  // The governed process builds the tree itself (mkdir is not an open).
  EXPECT_EQ(RunIn(a_.path(), [&] {
              std::string d = MakeDeep(vault, 20);
              if (d.empty()) return 200;
              return OpenAndWrite(d + "/f", O_WRONLY | O_CREAT);
            }), kKilled);
  std::string deep = vault + "/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/f";
  EXPECT_EQ(ReadFile(deep), "");  // created (documented), never written
  // Outside any protected subtree the same depth is fine.
  EXPECT_EQ(RunIn(a_.path(), [&] {
              std::string d = MakeDeep(open_dir, 20);
              if (d.empty()) return 200;
              return OpenAndWrite(d + "/f", O_WRONLY | O_CREAT);
            }), 0);
}

// Deeper than the walk can see (TG_MAX_DIR_DEPTH = 64) while subtree rules
// exist: fail closed. Without subtree rules only the file's own inode counts.
TEST_F(FileKillTest, BeyondTheWalkDepthFailsClosedOnlyWithSubtreeRules) {
  std::string vault = dir_ + "/vault", open_dir = dir_ + "/open";
  ASSERT_EQ(mkdir(vault.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(open_dir.c_str(), 0755), 0);
  std::string d = MakeDeep(open_dir, 70);
  ASSERT_FALSE(d.empty());
  std::string f = MakeFile("secret");
  ProtectPath(f, TG_DENY_WRITE);
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(d + "/f", O_WRONLY | O_CREAT); }), 0);
  ProtectPath(vault, TG_DENY_WRITE, /*subtree=*/true);
  DrainEvents();
  events_.clear();
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(d + "/f", O_WRONLY | O_APPEND); }),
            kKilled);
  // The walk cannot tell which rule is above: every access is denied.
  EXPECT_EQ(RunIn(a_.path(), [&] { return OpenAndWrite(d + "/f", O_RDONLY); }), kKilled);
  EXPECT_EQ(RunIn("", [&] { return OpenAndWrite(d + "/f", O_WRONLY | O_APPEND); }), 0);
  DrainEvents();
  bpf::tg_inode_key k = KeyOf(d + "/f");
  bool seen = false;
  for (const DecisionEvent& e : events_) {
    if (e.hook == "file_open" && e.ino == k.ino && e.dev == k.dev) seen = true;
  }
  EXPECT_TRUE(seen) << "fail-closed kill must name the file itself";
}

}  // namespace
}  // namespace taogate::bpf::testing
