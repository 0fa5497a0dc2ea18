// Sockets created outside the governed tree and used inside it (issue 20.2):
// cgroup sock_addr programs run for the socket's cgroup (its creator's), so a
// socket handed in with SCM_RIGHTS, or inherited across fork + cgroup move,
// used to reach a protected target with no grant. The gate's root-attached
// hooks judge such a socket by the task that uses it.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr uint64_t kTenSeconds = 10'000'000'000ull;

bool SendFd(int over, int fd) {
  char byte = 'f';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = buf;
  m.msg_controllen = sizeof(buf);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(over, &m, 0) == 1;
}

int RecvFd(int over) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = buf;
  m.msg_controllen = sizeof(buf);
  if (recvmsg(over, &m, 0) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

// 0 or errno: connect (or sendto, for datagrams) on an existing socket.
int ConnectFd(int fd, const std::string& addr, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = MakeSockaddr(addr, port, &ss);
  return connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
}
int SendToFd(int fd, const std::string& addr, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = MakeSockaddr(addr, port, &ss);
  return sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1 ? 0 : errno;
}
int ConnectUnixFd(int fd, const std::string& path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  return connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)) == 0 ? 0 : errno;
}

class ForeignSocketTest : public OpenGateTest {
 protected:
  // A governed process in `cg` receives `n` sockets made by this (ungoverned)
  // process after it started, and runs use(fd) on each; returns the results
  // as decimal digits (errno 1 = EPERM) or 99 if the hand-over failed.
  int Handover(const std::string& cg, int n, int family, int type,
               const std::function<int(int)>& use) {
    int sp[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    UniqueFd mine(sp[0]), theirs(sp[1]);
    Child child(cg, [&] {
      int code = 0;
      for (int i = 0; i < n; ++i) {
        int fd = RecvFd(theirs.get());
        if (fd < 0) return 99;
        code = code * 10 + use(fd);
      }
      return code;
    });
    for (int i = 0; i < n; ++i) {
      UniqueFd s(socket(family, type | SOCK_CLOEXEC, 0));  // created out here
      EXPECT_TRUE(SendFd(mine.get(), s.get()));
    }
    auto st = child.Wait(10'000);
    EXPECT_TRUE(st.has_value());
    return st.value_or(-1);
  }
};

TEST_F(ForeignSocketTest, TcpSocketPassedInIsDeniedWithoutGrant) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  EXPECT_EQ(Handover(a_.path(), 1, AF_INET, SOCK_STREAM,
                     [&](int fd) { return ConnectFd(fd, "127.0.0.1", prot.port); }),
            EPERM);
  EXPECT_EQ(Arrivals(prot), 0);
  DrainEvents();
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().verdict, Verdict::kDeny);
  EXPECT_EQ(events_.back().cgroup_id, IdOf(a_.path()));
}

TEST_F(ForeignSocketTest, TcpSocketPassedInConsumesExactlyOneGrant) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Dest(StrCat("tcp:127.0.0.1:", prot.port)),
                                  Tao(7), MonoNowNs() + kTenSeconds).ok());
  // First connect uses the grant, the second (another passed socket) is denied.
  EXPECT_EQ(Handover(a_.path(), 2, AF_INET, SOCK_STREAM,
                     [&](int fd) { return ConnectFd(fd, "127.0.0.1", prot.port); }),
            0 * 10 + EPERM);
  EXPECT_EQ(Arrivals(prot), 1);
  DrainEvents();
  int allowed = 0;
  for (const auto& e : events_) allowed += e.verdict == Verdict::kAllowGrant && e.tao_id == Tao(7);
  EXPECT_EQ(allowed, 1);
}

TEST_F(ForeignSocketTest, GrantOfAnotherWorkloadDoesNotServeAPassedSocket) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  ASSERT_TRUE(gate_->InstallGrant(IdOf(b_.path()), Dest(StrCat("tcp:127.0.0.1:", prot.port)),
                                  Tao(8), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(Handover(a_.path(), 1, AF_INET, SOCK_STREAM,
                     [&](int fd) { return ConnectFd(fd, "127.0.0.1", prot.port); }),
            EPERM);
}

TEST_F(ForeignSocketTest, InheritedSocketIsDenied) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  UniqueFd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));  // before fork + cgroup move
  EXPECT_EQ(RunIn(a_.path(), [&] { return ConnectFd(s.get(), "127.0.0.1", prot.port); }), EPERM);
  // Also a socket the workload made itself before it moved into the tree.
  EXPECT_EQ(RunIn("", [&] {
              UniqueFd own(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
              if (!MoveToCgroup(0, a_.path()).ok()) return 200;
              return ConnectFd(own.get(), "127.0.0.1", prot.port);
            }), EPERM);
  EXPECT_EQ(Arrivals(prot), 0);
  // The ungoverned creator keeps using its own sockets freely.
  EXPECT_EQ(ConnectFd(s.get(), "127.0.0.1", prot.port), 0);
}

TEST_F(ForeignSocketTest, Ipv6AndMappedSocketsPassedInAreDenied) {
  Listener prot = ListenTcp(AF_INET6);
  Listener prot4 = ListenTcp();
  Protect(StrCat("tcp:[::1]:", prot.port));
  Protect(StrCat("tcp:127.0.0.1:", prot4.port));
  EXPECT_EQ(Handover(a_.path(), 2, AF_INET6, SOCK_STREAM,
                     [&, i = 0](int fd) mutable {
                       return i++ == 0 ? ConnectFd(fd, "::1", prot.port)
                                       : ConnectFd(fd, "::ffff:127.0.0.1", prot4.port);
                     }),
            EPERM * 10 + EPERM);
}

TEST_F(ForeignSocketTest, UdpSocketPassedInCannotSendOrConnect) {
  Listener prot = BindUdp();
  Protect(StrCat("udp:127.0.0.1:", prot.port));
  EXPECT_EQ(Handover(a_.path(), 2, AF_INET, SOCK_DGRAM,
                     [&, i = 0](int fd) mutable {
                       return i++ == 0 ? SendToFd(fd, "127.0.0.1", prot.port)
                                       : ConnectFd(fd, "127.0.0.1", prot.port);
                     }),
            EPERM * 10 + EPERM);
  EXPECT_EQ(Arrivals(prot), 0);
}

TEST_F(ForeignSocketTest, UnixSocketPassedInIsDenied) {
  bool unix_hooks = false;
  for (const auto& h : gate_->Probe().hooks) {
    if (h.name == "foreign_connect_unix") unix_hooks = h.state != HookState::kAbsent;
  }
  if (!unix_hooks) GTEST_SKIP() << "kernel lacks cgroup unix hooks";
  std::string path = (tmp_.path() / "db.sock").string();
  Listener l = ListenUnix(path);
  Protect("unix:" + path);
  EXPECT_EQ(Handover(a_.path(), 1, AF_UNIX, SOCK_STREAM,
                     [&](int fd) { return ConnectUnixFd(fd, path); }),
            EPERM);
}

TEST_F(ForeignSocketTest, UnprotectedDestinationsStillWork) {
  Listener open = ListenTcp();
  EXPECT_EQ(Handover(a_.path(), 1, AF_INET, SOCK_STREAM,
                     [&](int fd) { return ConnectFd(fd, "127.0.0.1", open.port); }),
            0);
}

TEST_F(ForeignSocketTest, ProbeReportsTheRootHooks) {
  for (const char* name : {"foreign_connect4", "foreign_connect6", "foreign_sendmsg4",
                           "foreign_sendmsg6"}) {
    bool found = false;
    for (const auto& h : Gate::ProbePinned(pin_root_).hooks) {
      if (h.name == name) {
        found = true;
        EXPECT_EQ(h.state, HookState::kEnforcing) << name;
      }
    }
    EXPECT_TRUE(found) << name;
  }
}

}  // namespace
}  // namespace taogate::bpf::testing
