// Attestation from the kernel, without root: the executable's hash read
// through /proc/<pid>/exe, its cache, and the re-check that refuses a caller
// that exec'd another binary or exited after it connected.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "taogate/agent/attest.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

using ::testing::HasSubstr;

std::string FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ToHex(crypto::Sha256(ss.str()));
}

std::string ExeOf(pid_t pid) {
  char buf[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, n) : "";
}

// Options for node-a; pods mode under /kubepods with `pod_of` if given.
KernelAttesterOptions Options(std::function<std::optional<k8s::Pod>(const std::string&)> pod_of = nullptr) {
  KernelAttesterOptions o;
  o.node_id = "node-a";
  if (pod_of) {
    o.pods_root = *k8s::KubepodsRoot::Parse("/kubepods");
    o.pod_of = std::move(pod_of);
  }
  return o;
}

// A child that connects to a unix listener, then waits for a byte on a pipe
// and execs /bin/sleep (a different binary) -- or exits on 'x'.
class ConnectedChild : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<taogate::testing::TempDir>();
    std::string path = dir_->path().string() + "/s";
    listen_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    ASSERT_EQ(bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(listen(listen_, 1), 0);
    ASSERT_EQ(pipe2(go_, O_CLOEXEC), 0);
    child_ = fork();
    if (child_ == 0) {
      int s = socket(AF_UNIX, SOCK_STREAM, 0);
      if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) _exit(2);
      char c = 0;
      if (read(go_[0], &c, 1) != 1 || c == 'x') _exit(0);
      execl("/bin/sleep", "sleep", "30", nullptr);
      _exit(3);
    }
    conn_ = accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(conn_, 0);
    ucred cred{};
    socklen_t len = sizeof(cred);
    ASSERT_EQ(getsockopt(conn_, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
    peer_ = PeerIdentity{.pid = cred.pid, .uid = cred.uid, .gid = cred.gid, .cgroup_path = "/taogate/w1",
                         .cgroup_id = 7, .workload_cgroup_id = 7, .workload_cgroup_path = "/taogate/w1"};
  }
  void TearDown() override {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
    close(conn_);
    close(listen_);
    close(go_[0]);
    close(go_[1]);
  }
  // Lets the child exec /bin/sleep and waits until it did.
  void ChildExecs() {
    std::string before = ExeOf(child_);
    ASSERT_EQ(write(go_[1], "e", 1), 1);
    for (int i = 0; i < 200 && ExeOf(child_) == before; ++i) usleep(10'000);
    ASSERT_NE(ExeOf(child_), before);
  }
  void ChildExits() {
    ASSERT_EQ(write(go_[1], "x", 1), 1);
    waitpid(child_, nullptr, 0);
    child_ = -1;
  }

  std::unique_ptr<taogate::testing::TempDir> dir_;
  int listen_ = -1, conn_ = -1, go_[2] = {-1, -1};
  pid_t child_ = -1;
  PeerIdentity peer_;
  KernelAttester attester_{Options()};
};

TEST(ExeHasherTest, HashIsTheRunningFilesContent) {
  ExeHasher h;
  auto f = h.Of(getpid());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->path, ExeOf(getpid()));
  EXPECT_EQ(f->sha256_hex, FileSha256("/proc/self/exe"));
}

TEST(ExeHasherTest, SecondLookupIsCached) {
  ExeHasher h;
  ASSERT_TRUE(h.Of(getpid()).ok());
  ASSERT_TRUE(h.Of(getpid()).ok());
  EXPECT_EQ(h.hashed(), 1u);
}

TEST(ExeHasherTest, OversizedExecutableNotHashed) {
  ExeHasher h(/*max_bytes=*/1024);
  EXPECT_EQ(h.Of(getpid()).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConnectedChild, AttestsThePeersOwnExecutable) {
  auto a = attester_.Attest(peer_, conn_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->facts.exe_path(), ExeOf(getpid()));  // forked, not exec'd yet
  EXPECT_EQ(a->facts.pid(), static_cast<uint32_t>(child_));
  EXPECT_EQ(a->facts.cgroup_path(), "/taogate/w1");
  EXPECT_TRUE(a->still_same().ok());
}

TEST_F(ConnectedChild, ExecAfterAttestationRefused) {
  auto a = attester_.Attest(peer_, conn_);
  ASSERT_TRUE(a.ok()) << a.status();
  ChildExecs();
  EXPECT_THAT(std::string(a->still_same().message()), HasSubstr("another executable"));
}

TEST_F(ConnectedChild, ExitAfterAttestationRefused) {
  auto a = attester_.Attest(peer_, conn_);
  ASSERT_TRUE(a.ok()) << a.status();
  ChildExits();
  EXPECT_EQ(a->still_same().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConnectedChild, ExecBeforeAttestationAttestsTheNewBinary) {
  ChildExecs();
  auto a = attester_.Attest(peer_, conn_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->facts.exe_sha256(), FileSha256(ExeOf(child_)));
}

TEST_F(ConnectedChild, UngovernedCallerNotAttested) {
  peer_.workload_cgroup_id = 0;
  peer_.workload_cgroup_path.clear();
  EXPECT_EQ(attester_.Attest(peer_, conn_).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ConnectedChild, PodUnknownToTheApiNotAttested) {
  KernelAttester pods(Options([](const std::string&) { return std::optional<k8s::Pod>(); }));
  peer_.cgroup_path = "/kubepods/pod0e6f3a5c-1111-4222-8333-944455556666/abc";
  EXPECT_EQ(pods.Attest(peer_, conn_).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ConnectedChild, PodFactsComeFromTheApi) {
  k8s::Pod pod;
  pod.uid = "0e6f3a5c-1111-4222-8333-944455556666";
  pod.namespace_name = "shop";
  pod.name = "reporter-1";
  pod.labels = {{"app", "reporter"}};
  pod.service_account = "reporter";
  KernelAttester pods(Options([&](const std::string& uid) { return uid == pod.uid ? std::optional(pod) : std::nullopt; }));
  peer_.cgroup_path = "/kubepods/pod" + pod.uid;
  auto a = pods.Attest(peer_, conn_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->facts.namespace_(), "shop");
  EXPECT_EQ(a->facts.service_account(), "reporter");
  EXPECT_EQ(a->facts.pod_labels().at("app"), "reporter");
  EXPECT_EQ(a->workload, "pod:shop/reporter-1");
}

}  // namespace
}  // namespace taogate::agent
