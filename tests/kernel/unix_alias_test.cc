// Unix-socket targets are matched on the literal sun_path (issue 20.2):
// spellings the kernel resolves to the same socket without any alias on
// disk ("//", "/./", "/../", /proc/self/root, /proc/self/cwd, an O_PATH fd
// through /proc/self/fd) must not reach a protected socket. Symlinks, hard
// links and bind mounts are not caught (docs/kernel.md, degraded).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

class UnixAliasTest : public OpenGateTest {
 protected:
  void SetUp() override {
    OpenGateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    bool unix_hooks = false;
    for (const auto& h : gate_->Probe().hooks) {
      if (h.name == "connect_unix") unix_hooks = h.state != HookState::kAbsent;
    }
    if (!unix_hooks) GTEST_SKIP() << "kernel lacks cgroup unix hooks";
    dir_ = tmp_.path().string();
    ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0700), 0);
    path_ = dir_ + "/db.sock";
    listener_ = ListenUnix(path_);
    Protect("unix:" + path_);
  }
  std::string dir_, path_;
  Listener listener_;
};

TEST_F(UnixAliasTest, NonCanonicalSpellingsAreDenied) {
  for (const std::string& p : {dir_ + "//db.sock", dir_ + "/./db.sock", dir_ + "/sub/../db.sock",
                               StrCat("/proc/self/root", path_)}) {
    EXPECT_EQ(RunIn("", [&] { return TryConnectUnix(p); }), 0) << p << " (ungoverned)";
    EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnectUnix(p); }), EPERM) << p;
  }
  EXPECT_EQ(RunIn(a_.path(), [&] {
              if (chdir(dir_.c_str()) != 0) return 200;
              return TryConnectUnix("/proc/self/cwd/db.sock");
            }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              int fd = open(path_.c_str(), O_PATH | O_CLOEXEC);
              if (fd < 0) return 201;
              return TryConnectUnix(StrCat("/proc/self/fd/", fd));
            }), EPERM);
}

TEST_F(UnixAliasTest, CanonicalOtherSocketsStillWork) {
  std::string other = dir_ + "/sub/other.sock";
  Listener l = ListenUnix(other);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnectUnix(other); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnectUnix(dir_ + "/sub/...x"); }), ENOENT);
}

}  // namespace
}  // namespace taogate::bpf::testing
