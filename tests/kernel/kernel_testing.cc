#include "kernel/kernel_testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "taogate/common/strings.h"

namespace taogate::bpf::testing {

uint64_t MonoNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

socklen_t MakeSockaddr(const std::string& addr, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof(*ss));
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, addr.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    return sizeof(*s4);
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, addr.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    return sizeof(*s6);
  }
  return 0;
}

namespace {

uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

sockaddr_un UnixAddr(const std::string& path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), std::min(path.size(), sizeof(un.sun_path) - 1));
  return un;
}

}  // namespace

static Listener BindOn(const std::string& ip, int type) {
  Listener l;
  sockaddr_storage ss{};
  socklen_t len = MakeSockaddr(ip, 0, &ss);
  l.fd = UniqueFd(socket(ss.ss_family, type | SOCK_CLOEXEC, 0));
  EXPECT_EQ(bind(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), len), 0) << ip << ": " << strerror(errno);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(l.fd.get(), 256), 0);
  }
  l.port = BoundPort(l.fd.get());
  return l;
}

Listener ListenTcpOn(const std::string& ip) { return BindOn(ip, SOCK_STREAM); }
Listener BindUdpOn(const std::string& ip) { return BindOn(ip, SOCK_DGRAM); }
Listener ListenTcp(int family) { return ListenTcpOn(family == AF_INET ? "127.0.0.1" : "::1"); }
Listener BindUdp() { return BindUdpOn("127.0.0.1"); }

int Arrivals(const Listener& l, int wait_ms) {
  int n = 0;
  int type = 0;
  socklen_t tl = sizeof(type);
  getsockopt(l.fd.get(), SOL_SOCKET, SO_TYPE, &type, &tl);
  pollfd p{l.fd.get(), POLLIN, 0};
  while (poll(&p, 1, n == 0 ? wait_ms : 0) == 1) {
    if (type == SOCK_STREAM) {
      int c = accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) break;
      close(c);
    } else {
      char buf[64];
      if (recv(l.fd.get(), buf, sizeof(buf), MSG_DONTWAIT) < 0) break;
    }
    ++n;
  }
  return n;
}

Listener ListenUnix(const std::string& path, int type) {
  Listener l;
  l.path = path;
  l.fd = UniqueFd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  sockaddr_un un = UnixAddr(path);
  EXPECT_EQ(bind(l.fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0) << strerror(errno);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(l.fd.get(), 64), 0);
  }
  return l;
}

int TryConnect(const std::string& addr, uint16_t port, int type) {
  sockaddr_storage ss{};
  socklen_t len = MakeSockaddr(addr, port, &ss);
  if (len == 0) return EINVAL;
  UniqueFd fd(socket(ss.ss_family, type | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
}

int TrySendTo(const std::string& addr, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = MakeSockaddr(addr, port, &ss);
  UniqueFd fd(socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  return sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1 ? 0 : errno;
}

std::function<int()> Talker(uint16_t port, int ctl) {
  return [port, ctl] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return 10;
    char c;
    while (read(ctl, &c, 1) == 1) {
      if (send(fd, &c, 1, MSG_NOSIGNAL) < 0) return 11;
    }
    return 0;
  };
}

bool Receives(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  char buf[64];
  return poll(&p, 1, timeout_ms) == 1 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
}

int TryConnectUnix(const std::string& path, int type) {
  UniqueFd fd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  sockaddr_un un = UnixAddr(path);
  socklen_t len = offsetof(sockaddr_un, sun_path) + path.size() + 1;
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&un), len) == 0 ? 0 : errno;
}

static int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

static pid_t ForkInto(const std::string& cgroup, const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (!cgroup.empty() && !MoveToCgroup(0, cgroup).ok()) _exit(200);
    _exit(fn());
  }
  return pid;
}

int RunIn(const std::string& cgroup, const std::function<int()>& fn) {
  pid_t pid = ForkInto(cgroup, fn);
  if (pid < 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return DecodeStatus(status);
}

Child::Child(const std::string& cgroup, const std::function<int()>& fn) {
  pid_ = ForkInto(cgroup, fn);
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::optional<int> Child::Wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return DecodeStatus(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void GateTest::SetUp() {
  if (geteuid() != 0) GTEST_SKIP() << "kernel tests need root";
  auto mnt = Cgroup2Mount();
  if (!mnt.ok()) GTEST_SKIP() << "no cgroup2: " << mnt.status();
  bpffs_ = (tmp_.path() / "bpffs").string();
  ASSERT_EQ(mkdir(bpffs_.c_str(), 0700), 0);
  ASSERT_EQ(mount("bpf", bpffs_.c_str(), "bpf", 0, "mode=0700"), 0) << strerror(errno);
  pin_root_ = bpffs_ + "/taogate";
  std::random_device rd;
  std::string name = StrCat(*mnt, "/taogate-ktest-", getpid(), "-", rd() % 1000000);
  auto root = ScopedCgroup::Create(name);
  ASSERT_TRUE(root.ok()) << root.status();
  root_ = std::move(*root);
  auto a = ScopedCgroup::Create(root_.path() + "/a");
  ASSERT_TRUE(a.ok()) << a.status();
  a_ = std::move(*a);
  auto b = ScopedCgroup::Create(root_.path() + "/b");
  ASSERT_TRUE(b.ok()) << b.status();
  b_ = std::move(*b);
}

void GateTest::TearDown() {
  gate_.reset();
  if (!pin_root_.empty()) {
    EXPECT_TRUE(Gate::Detach(pin_root_).ok());
  }
  if (!bpffs_.empty()) umount2(bpffs_.c_str(), MNT_DETACH);
  // Children are killed and the cgroups removed by ~ScopedCgroup (b, a, root).
  b_ = ScopedCgroup();
  a_ = ScopedCgroup();
  root_ = ScopedCgroup();
}

std::unique_ptr<Gate> GateTest::OpenGate(Mode mode, bool syscall_hook_always) {
  GateOptions o;
  o.pin_root = pin_root_;
  o.governed_cgroup = root_.path();
  o.mode = mode;
  o.syscall_hook_always = syscall_hook_always;
  auto g = Gate::OpenOrAdopt(o);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

target::Target Spec(const std::string& spec) {
  auto t = target::Parse(spec, target::Form::kProtected);
  EXPECT_TRUE(t.ok()) << spec << ": " << t.status();
  return t.ok() ? *t : target::Target{};
}

target::Target Dest(const std::string& spec) {
  auto t = target::Parse(spec, target::Form::kDestination);
  EXPECT_TRUE(t.ok()) << spec << ": " << t.status();
  return t.ok() ? *t : target::Target{};
}

void GateTest::Protect(const std::string& spec) {
  auto t = target::Parse(spec, target::Form::kProtected);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE(gate_->AddTarget(*t).ok());
}

uint64_t GateTest::IdOf(const std::string& cgroup) {
  auto id = CgroupId(cgroup);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : 0;
}

void GateTest::DrainEvents() {
  auto n = gate_->PollEvents(0, [&](const DecisionEvent& e) { events_.push_back(e); });
  ASSERT_TRUE(n.ok()) << n.status();
}

}  // namespace taogate::bpf::testing
