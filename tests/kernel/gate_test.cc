// Enforcement without grants: protected targets are denied to governed
// processes, everything else (and every ungoverned process) is unaffected.
#include <netinet/in.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

class EnforceTest : public OpenGateTest {};

TEST_F(EnforceTest, GovernedConnectToProtectedTcpIsEperm) {
  Listener prot = ListenTcp(), open = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", prot.port); }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", open.port); }), 0);
}

// TCP Fast Open connects from sendto(): must go through the same hook.
TEST_F(EnforceTest, FastOpenSendtoIsDenied) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  EXPECT_EQ(RunIn(a_.path(), [&] {
              UniqueFd fd(socket(AF_INET, SOCK_STREAM, 0));
              sockaddr_in sa{};
              sa.sin_family = AF_INET;
              sa.sin_port = htons(prot.port);
              sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
              ssize_t n = sendto(fd.get(), "x", 1, MSG_FASTOPEN,
                                 reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
              return n >= 0 ? 0 : errno;
            }), EPERM);
}

TEST_F(EnforceTest, UngovernedProcessIsUnaffected) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  EXPECT_EQ(RunIn("", [&] { return TryConnect("127.0.0.1", prot.port); }), 0);
  EXPECT_EQ(TryConnect("127.0.0.1", prot.port), 0);
}

TEST_F(EnforceTest, ProcessDirectlyInGovernedRootIsDenied) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  EXPECT_EQ(RunIn(root_.path(), [&] { return TryConnect("127.0.0.1", prot.port); }), EPERM);
}

TEST_F(EnforceTest, NestedCgroupIsCovered) {
  Listener prot = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", prot.port));
  auto c = ScopedCgroup::Create(a_.path() + "/container");
  ASSERT_TRUE(c.ok());
  auto n = ScopedCgroup::Create(c->path() + "/nested");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(RunIn(n->path(), [&] { return TryConnect("127.0.0.1", prot.port); }), EPERM);
}

TEST_F(EnforceTest, CidrAndPortRangeMatch) {
  Listener l = ListenTcp();
  Protect(StrCat("tcp:127.0.0.0/8:", l.port - 1, "-", l.port + 1));
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  // The same port over UDP is not listed.
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port, SOCK_DGRAM); }), 0);
}

TEST_F(EnforceTest, MoreSpecificPrefixDoesNotHideBroaderProtection) {
  Listener l = ListenTcp(), other = ListenTcp();
  Protect(StrCat("tcp:127.0.0.0/8:", l.port));
  Protect(StrCat("tcp:127.0.0.1:", other.port));  // /32, another port
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", other.port); }), EPERM);
}

TEST_F(EnforceTest, EveryPortTargetIsDenied) {
  Listener l = ListenTcp();
  Protect("tcp:127.0.0.0/24:*");
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  ASSERT_TRUE(gate_->RemoveTarget(Spec("tcp:127.0.0.0/24:*")).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), 0);
}

// The hook skips the tries when no entry has the destination's port; the
// port counts must stay right as overlapping targets come and go.
TEST_F(EnforceTest, RemovingOneTargetKeepsOthersWithTheSamePort) {
  Listener l = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", l.port));
  Protect(StrCat("tcp:127.0.0.0/8:", l.port));
  Protect(StrCat("tcp:127.0.0.0/8:", l.port));  // re-adding must not double count
  ASSERT_TRUE(gate_->RemoveTarget(Spec(StrCat("tcp:127.0.0.1:", l.port))).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), EPERM);
  ASSERT_TRUE(gate_->RemoveTarget(Spec(StrCat("tcp:127.0.0.0/8:", l.port))).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", l.port); }), 0);
}

TEST_F(EnforceTest, UdpSendmsgAndConnectedUdpAreDenied) {
  Listener u = BindUdp();
  Protect(StrCat("udp:127.0.0.1:", u.port));
  EXPECT_EQ(RunIn(a_.path(), [&] { return TrySendTo("127.0.0.1", u.port); }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", u.port, SOCK_DGRAM); }), EPERM);
  EXPECT_EQ(RunIn("", [&] { return TrySendTo("127.0.0.1", u.port); }), 0);
}

TEST_F(EnforceTest, Ipv6AndV4MappedAreDenied) {
  Listener l6 = ListenTcp(AF_INET6);
  Protect(StrCat("tcp:[::1]/128:", l6.port));
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("::1", l6.port); }), EPERM);

  // A dual-stack listener reached through ::ffff:127.0.0.1 must match the
  // IPv4 target.
  Listener l4 = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", l4.port));
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("::ffff:127.0.0.1", l4.port); }), EPERM);
  EXPECT_EQ(RunIn("", [&] { return TryConnect("::ffff:127.0.0.1", l4.port); }), 0);
}

TEST_F(EnforceTest, UnixSocketTargetIsDenied) {
  std::string prot_path = (tmp_.path() / "db.sock").string();
  std::string open_path = (tmp_.path() / "other.sock").string();
  Listener prot = ListenUnix(prot_path), open = ListenUnix(open_path);
  Protect("unix:" + prot_path);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnectUnix(prot_path); }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnectUnix(open_path); }), 0);
  EXPECT_EQ(RunIn("", [&] { return TryConnectUnix(prot_path); }), 0);
}

TEST_F(EnforceTest, UnixTrailingGarbageAndRelativePathDoNotBypass) {
  std::string prot_path = (tmp_.path() / "db.sock").string();
  Listener prot = ListenUnix(prot_path);
  Protect("unix:" + prot_path);
  // Relative path to the same socket (attack: dodge the literal match).
  std::string dir = tmp_.path().string();
  EXPECT_EQ(RunIn(a_.path(), [&] {
              if (chdir(dir.c_str()) != 0) return 99;
              return TryConnectUnix("db.sock");
            }), EPERM);
  // Bytes after the NUL are ignored by the kernel; they must not change the match.
  EXPECT_EQ(RunIn(a_.path(), [&] {
              std::string p = prot_path + std::string("\0garbage", 8);
              return TryConnectUnix(p);
            }), EPERM);
}

TEST_F(EnforceTest, UnixDatagramSendmsgIsDenied) {
  std::string path = (tmp_.path() / "log.sock").string();
  Listener l = ListenUnix(path, SOCK_DGRAM);
  Protect("unix:" + path);
  EXPECT_EQ(RunIn(a_.path(), [&] {
              UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM, 0));
              sockaddr_un un{};
              un.sun_family = AF_UNIX;
              std::memcpy(un.sun_path, path.data(), path.size());
              return sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&un), sizeof(un)) == 1
                         ? 0 : errno;
            }), EPERM);
}

TEST_F(EnforceTest, RawSocketCreationIsDenied) {
  EXPECT_EQ(RunIn(a_.path(), [] {
              int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
              return fd >= 0 ? 0 : errno;
            }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [] {
              int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
              return fd >= 0 ? 0 : errno;
            }), EPERM);
  // Ordinary sockets are fine; ungoverned raw sockets are fine.
  EXPECT_EQ(RunIn(a_.path(), [] { return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : errno; }), 0);
  EXPECT_EQ(RunIn("", [] { return socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) >= 0 ? 0 : errno; }), 0);
}

TEST_F(EnforceTest, PacketSocketKillsGovernedProcessWithSyscallHook) {
  gate_.reset();
  ASSERT_TRUE(Gate::Detach(pin_root_).ok());
  gate_ = OpenGate(Mode::kProtectListed, /*syscall_hook_always=*/true);
  ASSERT_NE(gate_, nullptr);
  EXPECT_EQ(RunIn(a_.path(), [] {
              int fd = socket(AF_PACKET, SOCK_RAW, 0);
              (void)fd;
              return 0;  // never reached with fd usable: killed on return
            }), 128 + SIGKILL);
}

TEST_F(EnforceTest, DenyAllModeAllowsOnlyAllowlisted) {
  gate_.reset();
  ASSERT_TRUE(Gate::Detach(pin_root_).ok());
  gate_ = OpenGate(Mode::kDenyAllExceptAllowlisted);
  ASSERT_NE(gate_, nullptr);
  Listener allowed = ListenTcp(), other = ListenTcp();
  ASSERT_TRUE(gate_->AddTarget(Spec(StrCat("tcp:127.0.0.1:", allowed.port)), TargetKind::kAllow).ok());
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", allowed.port); }), 0);
  EXPECT_EQ(RunIn(a_.path(), [&] { return TryConnect("127.0.0.1", other.port); }), EPERM);
  EXPECT_EQ(RunIn("", [&] { return TryConnect("127.0.0.1", other.port); }), 0);
}

TEST_F(EnforceTest, ProbeReportsOnlyWhatAttached) {
  ProbeReport r = gate_->Probe();
  ProbeReport pinned = Gate::ProbePinned(pin_root_);
  auto state = [](const ProbeReport& rep, const std::string& name) {
    for (const auto& h : rep.hooks) {
      if (h.name == name) return h.state;
    }
    return HookState::kAbsent;
  };
  for (const char* h : {"connect4", "connect6", "sendmsg4", "sendmsg6"}) {
    EXPECT_EQ(state(r, h), HookState::kEnforcing) << h;
    EXPECT_EQ(state(pinned, h), HookState::kEnforcing) << h;
  }
  EXPECT_EQ(state(r, "connect_unix"), HookState::kDegraded);
  // On-demand hooks: absent until a quarantine needs them.
  EXPECT_EQ(state(r, "skb_egress"), HookState::kAbsent);
  EXPECT_EQ(state(pinned, "skb_egress"), HookState::kAbsent);
  ASSERT_TRUE(gate_->Quarantine(IdOf(b_.path()), QuarantineMode::kNetwork).ok());
  EXPECT_EQ(state(gate_->Probe(), "skb_egress"), HookState::kEnforcing);
  EXPECT_EQ(state(Gate::ProbePinned(pin_root_), "skb_ingress"), HookState::kEnforcing);
  ASSERT_TRUE(gate_->Release(IdOf(b_.path())).ok());
  EXPECT_EQ(state(Gate::ProbePinned(pin_root_), "skb_egress"), HookState::kAbsent);
  gate_.reset();
  ASSERT_TRUE(Gate::Detach(pin_root_).ok());
  ProbeReport after = Gate::ProbePinned(pin_root_);
  for (const auto& h : after.hooks) EXPECT_EQ(h.state, HookState::kAbsent) << h.name;
}

}  // namespace
}  // namespace taogate::bpf::testing
