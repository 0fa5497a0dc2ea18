// Destinations the kernel rewrites after the cgroup hook ran (docs/security.md):
// 0.0.0.0 becomes the socket's source address or 127.0.0.1, `::` becomes
// ::1 (or ::ffff:127.0.0.1), ::ffff:0.0.0.0 takes the IPv4 path. A governed
// workload without a grant must not reach a service protected under its real
// address through any of these spellings, over TCP, TCP Fast Open, UDP
// connect or UDP sendto, from v4 and v6 sockets; the DENIED event names the
// address the kernel would really have used.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr uint64_t kTenSeconds = 10'000'000'000ull;

enum class How { kConnect, kFastOpen, kConnectSend, kSendTo };

// One attempt, in the calling (child) process: a socket of `family`/`type`,
// bound to `src` if set, aimed at `dst` (its literal decides the sockaddr
// family, so "0.0.0.0" on an AF_INET6 socket is an AF_INET sockaddr).
// Returns 0 or the errno of the failing call (100 if the setup failed).
struct Shot {
  int family;
  int type;
  std::string dst;
  How how;
  std::string src;
};

int Fire(const Shot& s, uint16_t port) {
  sockaddr_storage ss{}, bs{};
  socklen_t len = MakeSockaddr(s.dst, port, &ss);
  UniqueFd fd(socket(s.family, s.type | SOCK_CLOEXEC, 0));
  if (!fd || len == 0) return 100;
  if (!s.src.empty()) {
    socklen_t bl = MakeSockaddr(s.src, 0, &bs);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&bs), bl) != 0) return 100;
  }
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  switch (s.how) {
    case How::kConnect:
      return connect(fd.get(), sa, len) == 0 ? 0 : errno;
    case How::kFastOpen:
      return sendto(fd.get(), "x", 1, MSG_FASTOPEN, sa, len) >= 0 ? 0 : errno;
    case How::kConnectSend:
      if (connect(fd.get(), sa, len) != 0) return errno;
      return send(fd.get(), "x", 1, 0) == 1 ? 0 : errno;
    case How::kSendTo:
      return sendto(fd.get(), "x", 1, 0, sa, len) == 1 ? 0 : errno;
  }
  return 100;
}

// The peer address of a connected socket, as text.
std::string PeerOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  char buf[INET6_ADDRSTRLEN] = {};
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  else
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  return buf;
}

class UnspecDestTest : public OpenGateTest {
 protected:
  void SetUp() override {
    OpenGateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    t4_ = ListenTcpOn("127.0.0.1");
    t6_ = ListenTcpOn("::1");
    u4_ = BindUdpOn("127.0.0.1");
    u6_ = BindUdpOn("::1");
    Protect(StrCat("tcp:127.0.0.1:", t4_.port));
    Protect(StrCat("tcp:[::1]/128:", t6_.port));
    Protect(StrCat("udp:127.0.0.1:", u4_.port));
    Protect(StrCat("udp:[::1]/128:", u6_.port));
  }

  // The shot from workload A is refused with EPERM, nothing arrives at `l`,
  // and exactly one DENIED event names `addr`:port and `hook`.
  void ExpectDenied(const Shot& s, const Listener& l, const std::string& addr,
                    const std::string& hook) {
    SCOPED_TRACE(StrCat("socket family ", s.family, " type ", s.type, " -> ", s.dst, " how ",
                        static_cast<int>(s.how), " src '", s.src, "'"));
    events_.clear();
    EXPECT_EQ(RunIn(a_.path(), [&] { return Fire(s, l.port); }), EPERM);
    EXPECT_EQ(Arrivals(l), 0);
    DrainEvents();
    ASSERT_EQ(events_.size(), 1u);
    EXPECT_EQ(events_[0].verdict, Verdict::kDeny);
    EXPECT_EQ(events_[0].address, addr);
    EXPECT_EQ(events_[0].port, l.port);
    EXPECT_EQ(events_[0].hook, hook);
  }

  Listener t4_, t6_, u4_, u6_;
};

// TCP Fast Open (sendto MSG_FASTOPEN) connects through the same hook.
TEST_F(UnspecDestTest, TcpConnectAndFastOpenToUnspecifiedAreDenied) {
  for (How how : {How::kConnect, How::kFastOpen}) {
    ExpectDenied({AF_INET, SOCK_STREAM, "0.0.0.0", how, ""}, t4_, "127.0.0.1", "connect4");
    ExpectDenied({AF_INET6, SOCK_STREAM, "::", how, ""}, t6_, "::1", "connect6");
    ExpectDenied({AF_INET6, SOCK_STREAM, "::ffff:0.0.0.0", how, ""}, t4_, "127.0.0.1", "connect6");
  }
}

TEST_F(UnspecDestTest, UdpConnectToUnspecifiedIsDenied) {
  ExpectDenied({AF_INET, SOCK_DGRAM, "0.0.0.0", How::kConnectSend, ""}, u4_, "127.0.0.1", "connect4");
  ExpectDenied({AF_INET6, SOCK_DGRAM, "::", How::kConnectSend, ""}, u6_, "::1", "connect6");
  ExpectDenied({AF_INET6, SOCK_DGRAM, "::ffff:0.0.0.0", How::kConnectSend, ""}, u4_, "127.0.0.1",
               "connect6");
  // A v6 socket given an AF_INET sockaddr runs the v4 hook.
  ExpectDenied({AF_INET6, SOCK_DGRAM, "0.0.0.0", How::kConnectSend, ""}, u4_, "127.0.0.1",
               "connect4");
}

TEST_F(UnspecDestTest, UdpSendtoUnspecifiedIsDenied) {
  ExpectDenied({AF_INET, SOCK_DGRAM, "0.0.0.0", How::kSendTo, ""}, u4_, "127.0.0.1", "sendmsg4");
  ExpectDenied({AF_INET6, SOCK_DGRAM, "::", How::kSendTo, ""}, u6_, "::1", "sendmsg6");
  // udpv6_sendmsg hands v4-mapped and AF_INET destinations to udp_sendmsg.
  ExpectDenied({AF_INET6, SOCK_DGRAM, "::ffff:0.0.0.0", How::kSendTo, ""}, u4_, "127.0.0.1",
               "sendmsg4");
  ExpectDenied({AF_INET6, SOCK_DGRAM, "0.0.0.0", How::kSendTo, ""}, u4_, "127.0.0.1", "sendmsg4");
}

// 0.0.0.0 means "my own source address" when the socket has one.
TEST_F(UnspecDestTest, BoundSourceIsTheRealDestination) {
  Listener t2 = ListenTcpOn("127.0.0.2");
  Listener u2 = BindUdpOn("127.0.0.2");
  Protect(StrCat("tcp:127.0.0.2:", t2.port));
  Protect(StrCat("udp:127.0.0.2:", u2.port));
  ExpectDenied({AF_INET, SOCK_STREAM, "0.0.0.0", How::kConnect, "127.0.0.2"}, t2, "127.0.0.2",
               "connect4");
  ExpectDenied({AF_INET, SOCK_DGRAM, "0.0.0.0", How::kConnectSend, "127.0.0.2"}, u2, "127.0.0.2",
               "connect4");
  ExpectDenied({AF_INET, SOCK_DGRAM, "0.0.0.0", How::kSendTo, "127.0.0.2"}, u2, "127.0.0.2",
               "sendmsg4");
  ExpectDenied({AF_INET6, SOCK_STREAM, "::ffff:0.0.0.0", How::kConnect, "::ffff:127.0.0.2"}, t2,
               "127.0.0.2", "connect6");
  ExpectDenied({AF_INET6, SOCK_DGRAM, "0.0.0.0", How::kSendTo, "::ffff:127.0.0.2"}, u2,
               "127.0.0.2", "sendmsg4");
  // `::` on a socket bound to a v4-mapped address is ::ffff:127.0.0.1, not
  // the source.
  ExpectDenied({AF_INET6, SOCK_STREAM, "::", How::kConnect, "::ffff:127.0.0.2"}, t4_, "127.0.0.1",
               "connect6");
  ExpectDenied({AF_INET6, SOCK_DGRAM, "::", How::kConnectSend, "::ffff:127.0.0.2"}, u4_,
               "127.0.0.1", "connect6");
}

// IP_PKTINFO's ipi_spec_dst is the source of one datagram, so 0.0.0.0 goes
// there.
TEST_F(UnspecDestTest, PktinfoSourceIsTheRealDestination) {
  Listener u2 = BindUdpOn("127.0.0.2");
  Protect(StrCat("udp:127.0.0.2:", u2.port));
  EXPECT_EQ(RunIn(a_.path(), [&] {
              UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
              sockaddr_in to{};
              to.sin_family = AF_INET;
              to.sin_port = htons(u2.port);
              char cbuf[CMSG_SPACE(sizeof(in_pktinfo))] = {};
              iovec iov{const_cast<char*>("x"), 1};
              msghdr m{};
              m.msg_name = &to;
              m.msg_namelen = sizeof(to);
              m.msg_iov = &iov;
              m.msg_iovlen = 1;
              m.msg_control = cbuf;
              m.msg_controllen = sizeof(cbuf);
              cmsghdr* c = CMSG_FIRSTHDR(&m);
              c->cmsg_level = IPPROTO_IP;
              c->cmsg_type = IP_PKTINFO;
              c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
              in_pktinfo pi{};
              inet_pton(AF_INET, "127.0.0.2", &pi.ipi_spec_dst);
              std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
              return sendmsg(fd.get(), &m, 0) == 1 ? 0 : errno;
            }), EPERM);
  EXPECT_EQ(Arrivals(u2), 0);
  DrainEvents();
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].address, "127.0.0.2");
}

// A connected UDP socket that names a destination in sendto is judged on
// that destination.
TEST_F(UnspecDestTest, ConnectedUdpSendtoWithNameIsDenied) {
  Listener open = BindUdpOn("127.0.0.1");
  EXPECT_EQ(RunIn(a_.path(), [&] {
              UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
              sockaddr_storage ok{}, bad{};
              socklen_t okl = MakeSockaddr("127.0.0.1", open.port, &ok);
              socklen_t badl = MakeSockaddr("0.0.0.0", u4_.port, &bad);
              if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ok), okl) != 0) return 100;
              return sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&bad), badl) == 1 ? 0
                                                                                             : errno;
            }), EPERM);
  EXPECT_EQ(Arrivals(u4_), 0);
}

// udp_sendmsg accepts sin_family AF_UNSPEC as AF_INET: same address, same
// verdict.
TEST_F(UnspecDestTest, AfUnspecSendtoIsJudgedAsIpv4) {
  for (const char* dst : {"127.0.0.1", "0.0.0.0"}) {
    EXPECT_EQ(RunIn(a_.path(), [&] {
                UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
                sockaddr_storage ss{};
                socklen_t len = MakeSockaddr(dst, u4_.port, &ss);
                ss.ss_family = AF_UNSPEC;
                return sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1 ? 0
                                                                                             : errno;
              }), EPERM) << dst;
    EXPECT_EQ(Arrivals(u4_), 0) << dst;
  }
}

TEST_F(UnspecDestTest, BoundToLoopbackDeviceIsDenied) {
  EXPECT_EQ(RunIn(a_.path(), [&] {
              UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
              if (setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0) return 100;
              sockaddr_storage ss{};
              socklen_t len = MakeSockaddr("0.0.0.0", t4_.port, &ss);
              return connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
            }), EPERM);
  EXPECT_EQ(Arrivals(t4_), 0);
}

// MPTCP connects its first subflow through the TCP connect hook.
TEST_F(UnspecDestTest, MptcpToUnspecifiedIsDenied) {
  constexpr int kIpprotoMptcp = 262;
  UniqueFd probe(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, kIpprotoMptcp));
  if (!probe) GTEST_SKIP() << "no MPTCP: " << strerror(errno);
  for (const char* dst : {"127.0.0.1", "0.0.0.0"}) {
    EXPECT_EQ(RunIn(a_.path(), [&] {
                UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, kIpprotoMptcp));
                sockaddr_storage ss{};
                socklen_t len = MakeSockaddr(dst, t4_.port, &ss);
                return connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
              }), EPERM) << dst;
    EXPECT_EQ(Arrivals(t4_), 0) << dst;
  }
}

// With a grant for 127.0.0.1:P, 0.0.0.0:P consumes it and connects exactly
// to the checked address, once.
TEST_F(UnspecDestTest, GrantForLoopbackServesUnspecifiedOnce) {
  target::Target g = Dest(StrCat("tcp:127.0.0.1:", t4_.port));
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), g, Tao(0x21), MonoNowNs() + kTenSeconds).ok());
  auto connect_any = [&] {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage ss{};
    socklen_t len = MakeSockaddr("0.0.0.0", t4_.port, &ss);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno;
    return PeerOf(fd.get()) == "127.0.0.1" ? 0 : 99;
  };
  EXPECT_EQ(RunIn(a_.path(), connect_any), 0);
  EXPECT_EQ(Arrivals(t4_), 1);
  EXPECT_EQ(RunIn(a_.path(), connect_any), EPERM);
  EXPECT_EQ(Arrivals(t4_), 0);
  DrainEvents();
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].verdict, Verdict::kAllowGrant);
  EXPECT_EQ(events_[0].tao_id, Tao(0x21));
  EXPECT_EQ(events_[0].address, "127.0.0.1");
  EXPECT_EQ(events_[1].verdict, Verdict::kDeny);
}

TEST_F(UnspecDestTest, GrantForV6LoopbackServesUnspecifiedOnce) {
  target::Target g = Dest(StrCat("udp:[::1]:", u6_.port));
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), g, Tao(0x22), MonoNowNs() + kTenSeconds).ok());
  Shot s{AF_INET6, SOCK_DGRAM, "::", How::kSendTo, ""};
  EXPECT_EQ(RunIn(a_.path(), [&] { return Fire(s, u6_.port); }), 0);
  EXPECT_EQ(Arrivals(u6_), 1);
  EXPECT_EQ(RunIn(a_.path(), [&] { return Fire(s, u6_.port); }), EPERM);
  EXPECT_EQ(Arrivals(u6_), 0);
}

TEST_F(UnspecDestTest, UngovernedProcessIsUnaffected) {
  EXPECT_EQ(RunIn("", [&] { return Fire({AF_INET, SOCK_STREAM, "0.0.0.0", How::kConnect, ""}, t4_.port); }),
            0);
  EXPECT_EQ(Arrivals(t4_), 1);
  EXPECT_EQ(RunIn("", [&] { return Fire({AF_INET6, SOCK_DGRAM, "::", How::kSendTo, ""}, u6_.port); }),
            0);
  EXPECT_EQ(Arrivals(u6_), 1);
  // And governed traffic to unprotected destinations still works.
  Listener open = ListenTcpOn("127.0.0.1");
  EXPECT_EQ(RunIn(a_.path(), [&] {
              return Fire({AF_INET, SOCK_STREAM, "0.0.0.0", How::kConnect, ""}, open.port);
            }), 0);
  EXPECT_EQ(Arrivals(open), 1);
}

// Deny-all mode judges the rewritten address as well: 0.0.0.0 to an
// unlisted port is denied like 127.0.0.1 would be.
TEST_F(UnspecDestTest, DenyAllJudgesTheRealDestination) {
  gate_.reset();
  ASSERT_TRUE(Gate::Detach(pin_root_).ok());
  gate_ = OpenGate(Mode::kDenyAllExceptAllowlisted);
  ASSERT_NE(gate_, nullptr);
  Listener l = ListenTcpOn("127.0.0.1");
  ASSERT_TRUE(gate_->AddTarget(Spec(StrCat("tcp:127.0.0.1:", l.port)), TargetKind::kAllow).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] {
              return Fire({AF_INET, SOCK_STREAM, "0.0.0.0", How::kConnect, ""}, l.port);
            }), 0);
  EXPECT_EQ(Arrivals(l), 1);
  ExpectDenied({AF_INET6, SOCK_STREAM, "::", How::kConnect, ""}, t6_, "::1", "connect6");
}

// Other spellings that look like they could reach 127.0.0.1:P but do not
// (kernel 6.18): the rest of 0.0.0.0/8, IPv4-compatible ::127.0.0.1,
// broadcast, and a loose source route through 127.0.0.1 to another address.
TEST_F(UnspecDestTest, OtherSpellingsDoNotReachTheService) {
  for (const char* dst : {"0.0.0.1", "0.1.2.3", "0.255.255.255"}) {
    RunIn(a_.path(), [&] { return Fire({AF_INET, SOCK_STREAM, dst, How::kConnect, ""}, t4_.port); });
    RunIn(a_.path(), [&] { return Fire({AF_INET, SOCK_DGRAM, dst, How::kSendTo, ""}, u4_.port); });
    EXPECT_EQ(Arrivals(t4_) + Arrivals(u4_), 0) << dst;
  }
  RunIn(a_.path(), [&] { return Fire({AF_INET6, SOCK_STREAM, "::127.0.0.1", How::kConnect, ""}, t4_.port); });
  RunIn(a_.path(), [&] { return Fire({AF_INET6, SOCK_DGRAM, "::127.0.0.1", How::kSendTo, ""}, u4_.port); });
  EXPECT_EQ(Arrivals(t4_) + Arrivals(u4_), 0) << "::127.0.0.1";
  for (const char* dst : {"255.255.255.255", "127.255.255.255"}) {
    RunIn(a_.path(), [&] {
      UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      int one = 1;
      setsockopt(fd.get(), SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
      sockaddr_storage ss{};
      socklen_t len = MakeSockaddr(dst, u4_.port, &ss);
      return sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1 ? 0 : errno;
    });
    EXPECT_EQ(Arrivals(u4_), 0) << dst;
  }
  // LSRR: first hop 127.0.0.1 (protected), final destination 127.0.0.2.
  RunIn(a_.path(), [&] {
    // Non-blocking: the answer to a source-routed SYN never comes back.
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    uint8_t opt[8] = {IPOPT_NOP, IPOPT_LSRR, 7, 4, 127, 0, 0, 1};
    if (setsockopt(fd.get(), IPPROTO_IP, IP_OPTIONS, opt, sizeof(opt)) != 0) return 100;
    sockaddr_storage ss{};
    socklen_t len = MakeSockaddr("127.0.0.2", t4_.port, &ss);
    connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len);
    usleep(200'000);
    return 0;
  });
  EXPECT_EQ(Arrivals(t4_), 0) << "LSRR via 127.0.0.1";
}

}  // namespace
}  // namespace taogate::bpf::testing
