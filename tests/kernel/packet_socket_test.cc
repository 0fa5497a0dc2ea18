// Packet-level sockets without syscall_hook_always (issue 20.2): AF_PACKET
// (and its old spelling socket(AF_INET, SOCK_PACKET)), AF_XDP, by every
// syscall path (native, int $0x80 socket and socketcall, io_uring inline and
// in an io-wq worker) inject frames below the IP hooks. cgroup/sock_create
// never sees them; the gate kills a governed process whose CAP_NET_RAW check
// succeeds for them (tp_btf/cap_capable). Raw IP sockets stay EPERM.
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/kernel_testing.h"

namespace taogate::bpf::testing {
namespace {

constexpr int kKilled = 128 + SIGKILL;
constexpr int kAfXdp = 44;
constexpr int kSockPacket = 10;

// 0 if socket() returned an fd, else errno (a killed child never returns).
int TrySocket(int family, int type, int proto) {
  int fd = socket(family, type, proto);
  return fd >= 0 ? 0 : errno;
}

// i386 syscalls from a 64-bit process (IA32 emulation): socket is 359, and
// socketcall(SYS_SOCKET = 1, args) is 102. -1000 if no 32-bit memory.
long Int80(long nr, long b, long c, long d) {
  long ret;
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(nr), "b"(b), "c"(c), "d"(d)
               : "memory", "r8", "r9", "r10", "r11");
  return ret;
}
int Int80Socket(int family, int type, int proto) {
  long r = Int80(359, family, type, proto);
  return r >= 0 ? 0 : static_cast<int>(-r);
}
int Int80Socketcall(int family, int type, int proto) {
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                 -1, 0);
  if (m == MAP_FAILED) return -1000;
  uint32_t args[3] = {static_cast<uint32_t>(family), static_cast<uint32_t>(type),
                      static_cast<uint32_t>(proto)};
  std::memcpy(m, args, sizeof(args));
  long r = Int80(102, 1, reinterpret_cast<long>(m), 0);
  return r >= 0 ? 0 : static_cast<int>(-r);
}

// IORING_OP_SOCKET through a fresh ring; `async` forces an io-wq worker.
// 0 if the CQE carried an fd, else its errno (or 1000+ for setup failures).
int UringSocket(int family, int type, int proto, bool async) {
  io_uring_params p{};
  int ring = static_cast<int>(syscall(__NR_io_uring_setup, 4, &p));
  if (ring < 0) return 1000 + errno;
  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  auto* sq = static_cast<char*>(mmap(nullptr, sq_len, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING));
  auto* cq = static_cast<char*>(mmap(nullptr, cq_len, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING));
  auto* sqes = static_cast<io_uring_sqe*>(mmap(nullptr, p.sq_entries * sizeof(io_uring_sqe),
                                               PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                                               ring, IORING_OFF_SQES));
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return 1001;
  auto* tail = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
  unsigned mask = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
  unsigned idx = *tail & mask;
  io_uring_sqe& e = sqes[idx];
  std::memset(&e, 0, sizeof(e));
  e.opcode = IORING_OP_SOCKET;
  e.fd = family;
  e.off = static_cast<uint64_t>(type);
  e.len = static_cast<uint32_t>(proto);
  if (async) e.flags = IOSQE_ASYNC;
  reinterpret_cast<unsigned*>(sq + p.sq_off.array)[idx] = idx;
  __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
  if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, nullptr, 0) < 0) {
    return 1000 + errno;
  }
  unsigned head = *reinterpret_cast<unsigned*>(cq + p.cq_off.head);
  unsigned cmask = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
  int res = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes)[head & cmask].res;
  return res >= 0 ? 0 : -res;
}

const int kAllEth = htons(ETH_P_ALL);

class PacketSocketTest : public OpenGateTest {};

TEST_F(PacketSocketTest, NativePacketSocketKillsGovernedProcess) {
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_PACKET, SOCK_RAW, kAllEth); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_PACKET, SOCK_DGRAM, kAllEth); }), kKilled);
  // The old spelling: the kernel turns it into an AF_PACKET socket before
  // any inet hook could see it.
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_INET, kSockPacket, kAllEth); }), kKilled);
  DrainEvents();
  int kills = 0;
  for (const auto& e : events_) kills += e.verdict == Verdict::kKill && e.hook == "net_raw";
  EXPECT_EQ(kills, 3);
}

TEST_F(PacketSocketTest, XdpSocketKillsGovernedProcessOrIsUnsupported) {
  if (RunIn("", [] { return TrySocket(kAfXdp, SOCK_RAW, 0); }) != 0) {
    GTEST_SKIP() << "no AF_XDP on this kernel";
  }
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(kAfXdp, SOCK_RAW, 0); }), kKilled);
}

TEST_F(PacketSocketTest, CompatSyscallsAreKilled) {
  if (RunIn("", [] { return Int80Socket(AF_PACKET, SOCK_RAW, kAllEth); }) != 0) {
    GTEST_SKIP() << "int $0x80 unavailable (no IA32 emulation)";
  }
  EXPECT_EQ(RunIn(a_.path(), [] { return Int80Socket(AF_PACKET, SOCK_RAW, kAllEth); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [] { return Int80Socketcall(AF_PACKET, SOCK_RAW, kAllEth); }),
            kKilled);
}

TEST_F(PacketSocketTest, IoUringSocketIsKilledInlineAndInAWorker) {
  int probe = RunIn("", [] { return UringSocket(AF_PACKET, SOCK_RAW, kAllEth, false); });
  if (probe != 0) GTEST_SKIP() << "no io_uring IORING_OP_SOCKET here: " << probe;
  EXPECT_EQ(RunIn(a_.path(), [] { return UringSocket(AF_PACKET, SOCK_RAW, kAllEth, false); }),
            kKilled);
  EXPECT_EQ(RunIn(a_.path(), [] { return UringSocket(AF_PACKET, SOCK_RAW, kAllEth, true); }),
            kKilled);
}

TEST_F(PacketSocketTest, OthersAndOtherUsesAreUntouched) {
  // Ungoverned processes keep every socket.
  EXPECT_EQ(RunIn("", [] { return TrySocket(AF_PACKET, SOCK_RAW, kAllEth); }), 0);
  EXPECT_EQ(RunIn("", [] { return TrySocket(AF_INET, kSockPacket, kAllEth); }),
            0);
  // Governed raw IP sockets are refused (EPERM), not killed.
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_INET, SOCK_RAW, IPPROTO_ICMP); }), EPERM);
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6); }), EPERM);
  // CAP_NET_RAW in setsockopt (SO_MARK) re-routes a gated socket: allowed.
  EXPECT_EQ(RunIn(a_.path(), [] {
              int fd = socket(AF_INET, SOCK_STREAM, 0);
              int mark = 7;
              return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0 ? 0 : errno;
            }), 0);
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_INET, SOCK_DGRAM, 0); }), 0);
}

TEST_F(PacketSocketTest, ProbeReportsTheKillAsDegraded) {
  for (const auto& h : gate_->Probe().hooks) {
    if (h.name == "net_raw") {
      EXPECT_EQ(h.state, HookState::kDegraded);
      return;
    }
  }
  ADD_FAILURE() << "no net_raw hook in the probe";
}

// The kill-on-socket() path of syscall_hook_always (native socket() only)
// also knows the SOCK_PACKET spelling now.
TEST_F(PacketSocketTest, SyscallHookAlsoKillsSockPacket) {
  gate_.reset();
  ASSERT_TRUE(Gate::Detach(pin_root_).ok());
  gate_ = OpenGate(Mode::kProtectListed, /*syscall_hook_always=*/true);
  ASSERT_NE(gate_, nullptr);
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_INET, kSockPacket, kAllEth); }), kKilled);
  EXPECT_EQ(RunIn(a_.path(), [] { return TrySocket(AF_PACKET, SOCK_RAW, kAllEth); }), kKilled);
}

}  // namespace
}  // namespace taogate::bpf::testing
