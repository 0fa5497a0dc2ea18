// Network scenarios: lsm/socket_connect and lsm/unix_stream_connect alone
// (no cgroup-BPF program is attached anywhere in the VM).
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "vm_util.h"

namespace taogate::vmtest {
namespace {

using bpflsm::MakeGrantKey;
using bpflsm::MakeInetTarget;

bpflsm::TaoId Tao(uint8_t seed) {
  bpflsm::TaoId id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(seed + i);
  return id;
}

bpf::tg_lsm_target_key Target(uint8_t proto, const char* addr, uint16_t port) {
  return *MakeInetTarget(proto, addr, port);
}

bpf::tg_lsm_grant_key Grant(uint64_t cg, uint8_t proto, const char* addr, uint16_t port) {
  return *MakeGrantKey(cg, Target(proto, addr, port));
}

// Expect governed -> want_gov, ungoverned -> 0, for one connect.
void ConnectCase(Env& env, const std::string& name, const std::string& cg,
                 const std::function<int()>& fn, int want) {
  int gov = RunIn(cg, fn);
  int ungov = RunIn(env.ungov, fn);
  Report(name, gov == want && ungov == 0,
         "governed=" + ErrName(gov) + ",ungoverned=" + ErrName(ungov) + ",want=" + ErrName(want));
}

void GrantSingleUse(Env& env) {
  auto key = Grant(env.ref_a.id, TG_PROTO_TCP, "127.0.0.1", kTcpProtected);
  auto tao = Tao(0x40);
  auto st = env.gate->InstallGrant(key, tao, bpflsm::LsmGate::MonotonicNowNs() + 60'000'000'000ull);
  auto dup = env.gate->InstallGrant(key, Tao(0x50), bpflsm::LsmGate::MonotonicNowNs() + 60'000'000'000ull);
  (void)env.gate->PollEvents(0);  // drop older events (a failed poll leaves none to mistake)
  auto fn = [] { return ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpProtected); };
  int first = RunIn(env.gov_a, fn);
  int second = RunIn(env.gov_a, fn);
  auto present = env.gate->GrantPresent(key);
  bool event_ok = false;
  auto events = env.gate->PollEvents(1000);
  if (events.ok()) {
    for (const auto& e : *events) {
      if (e.verdict == bpf::TG_VERDICT_GRANT_USED && e.hook == bpf::TG_HOOK_SOCKET_CONNECT &&
          std::memcmp(e.tao_id, tao.data(), 16) == 0 && e.port == kTcpProtected &&
          e.cgroup_id == env.ref_a.id) {
        event_ok = true;
      }
    }
  }
  bool pass = st.ok() && !dup.ok() && first == 0 && second == EPERM && present.ok() &&
              !*present && event_ok;
  Report("grant_single_use", pass,
         "install=" + std::string(st.ok() ? "ok" : "err") + ",dup_refused=" +
             (dup.ok() ? "no" : "yes") + ",first=" + ErrName(first) + ",second=" +
             ErrName(second) + ",grant_left=" + (present.ok() && *present ? "yes" : "no") +
             ",exercised_event=" + (event_ok ? "yes" : "no"));
}

// N governed processes race for one grant: exactly one may win.
void GrantRace(Env& env) {
  constexpr int kRacers = 8;
  int go[2];
  if (pipe(go) != 0) return Report("grant_race_one_winner", false, "pipe");
  std::vector<pid_t> kids;
  int results[2] = {-1, -1};
  if (pipe(results) != 0) return Report("grant_race_one_winner", false, "pipe");
  for (int i = 0; i < kRacers; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      close(go[1]);
      int fd = open((env.gov_a + "/cgroup.procs").c_str(), O_WRONLY);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(99);
      close(fd);
      char c;
      if (read(go[0], &c, 1) < 0) _exit(98);
      int r = ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpProtected);
      unsigned char b = static_cast<unsigned char>(r);
      if (write(results[1], &b, 1) != 1) _exit(97);
      _exit(0);
    }
    kids.push_back(pid);
  }
  close(go[0]);
  close(results[1]);
  auto key = Grant(env.ref_a.id, TG_PROTO_TCP, "127.0.0.1", kTcpProtected);
  auto st = env.gate->InstallGrant(key, Tao(0x60), bpflsm::LsmGate::MonotonicNowNs() + 60'000'000'000ull);
  usleep(200000);  // let every racer block on the go pipe
  close(go[1]);    // everyone reads EOF at once
  int wins = 0, denied = 0, other = 0;
  unsigned char b;
  while (read(results[0], &b, 1) == 1) {
    if (b == 0) ++wins; else if (b == EPERM) ++denied; else ++other;
  }
  close(results[0]);
  for (pid_t p : kids) waitpid(p, nullptr, 0);
  Report("grant_race_one_winner", st.ok() && wins == 1 && denied == kRacers - 1 && other == 0,
         "racers=" + std::to_string(kRacers) + ",wins=" + std::to_string(wins) +
             ",denied=" + std::to_string(denied) + ",other=" + std::to_string(other));
}

void GrantExpired(Env& env) {
  auto key = Grant(env.ref_a.id, TG_PROTO_TCP, "127.0.0.1", kTcpProtected);
  auto st = env.gate->InstallGrant(key, Tao(0x70), bpflsm::LsmGate::MonotonicNowNs() - 1);
  int r = RunIn(env.gov_a, [] { return ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpProtected); });
  auto present = env.gate->GrantPresent(key);
  Report("grant_expired_denied", st.ok() && r == EPERM && present.ok() && !*present,
         "connect=" + ErrName(r) + ",grant_left=" + (present.ok() && *present ? "yes" : "no"));
}

void GrantOtherCgroup(Env& env) {
  auto key = Grant(env.ref_a.id, TG_PROTO_TCP, "127.0.0.1", kTcpProtected);
  auto st = env.gate->InstallGrant(key, Tao(0x80), bpflsm::LsmGate::MonotonicNowNs() + 60'000'000'000ull);
  int r = RunIn(env.gov_b, [] { return ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpProtected); });
  auto present = env.gate->GrantPresent(key);
  bool still = present.ok() && *present;
  // Consume it from its rightful owner so later scenarios start clean.
  int owner = RunIn(env.gov_a, [] { return ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpProtected); });
  Report("grant_other_cgroup_denied", st.ok() && r == EPERM && still && owner == 0,
         "other_cgroup=" + ErrName(r) + ",grant_untouched=" + (still ? "yes" : "no") +
             ",owner=" + ErrName(owner));
}

// sendto with a destination: what a connect() check alone would miss.
int SendTo(int type, int flags, uint16_t port, int connect_port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  if (connect_port) {
    sin.sin_port = htons(static_cast<uint16_t>(connect_port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
      int e = errno;
      close(fd);
      return 100 + e;
    }
  }
  sin.sin_port = htons(port);
  const char msg[] = "x";
  int rc = sendto(fd, msg, 1, flags, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) >= 0 ? 0 : errno;
  close(fd);
  return rc;
}

int SendUnixDgram(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path.c_str());
  int rc = sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) >= 0 ? 0 : errno;
  close(fd);
  return rc;
}

void SendPaths(Env& env) {
  ConnectCase(env, "unix_dgram_send_denied", env.gov_a,
              [&env] { return SendUnixDgram(env.tmp + "/log.sock"); }, EPERM);
  ConnectCase(env, "sendto_udp_unconnected_denied", env.gov_a,
              [] { return SendTo(SOCK_DGRAM, 0, kUdpProtected, 0); }, EPERM);
  ConnectCase(env, "tcp_fastopen_denied", env.gov_a,
              [] { return SendTo(SOCK_STREAM, MSG_FASTOPEN, kTcpProtected, 0); }, EPERM);
  // msg_name on an already connected stream is ignored by the kernel: no deny.
  int connected = RunIn(env.gov_a, [] { return SendTo(SOCK_STREAM, 0, kTcpProtected, kTcpOpen); });
  Report("sendto_connected_stream_allowed", connected == 0, "governed=" + ErrName(connected));
}

// The other two grant-key encodings (AF_INET6, AF_UNIX by inode) must match
// between user space (MakeGrantKey) and the programs.
void GrantOtherFamilies(Env& env) {
  const std::string sock = env.tmp + "/db-link.sock";  // via the symlink
  auto unix_target = bpflsm::MakeUnixTarget(env.tmp + "/db.sock");
  auto unix_key = unix_target.ok() ? MakeGrantKey(env.ref_a.id, *unix_target)
                                   : absl::StatusOr<bpf::tg_lsm_grant_key>(unix_target.status());
  auto v6_key = Grant(env.ref_a.id, TG_PROTO_TCP, "::1", kTcp6Protected);
  uint64_t expiry = bpflsm::LsmGate::MonotonicNowNs() + 60'000'000'000ull;
  bool installed = unix_key.ok() && env.gate->InstallGrant(*unix_key, Tao(0x90), expiry).ok() &&
                   env.gate->InstallGrant(v6_key, Tao(0xa0), expiry).ok();
  auto unix_fn = [&sock] { return ConnectUnix(sock); };
  auto v6_fn = [] { return ConnectInet(AF_INET6, SOCK_STREAM, "::1", kTcp6Protected); };
  int u1 = RunIn(env.gov_a, unix_fn), u2 = RunIn(env.gov_a, unix_fn);
  int v1 = RunIn(env.gov_a, v6_fn), v2 = RunIn(env.gov_a, v6_fn);
  Report("grant_unix_and_ipv6_single_use",
         installed && u1 == 0 && u2 == EPERM && v1 == 0 && v2 == EPERM,
         std::string("installed=") + (installed ? "yes" : "no") + ",unix_first=" + ErrName(u1) +
             ",unix_second=" + ErrName(u2) + ",ipv6_first=" + ErrName(v1) +
             ",ipv6_second=" + ErrName(v2));
}

}  // namespace

void RunNetScenarios(Env& env) {
  auto tcp4 = [] { return ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpProtected); };
  ConnectCase(env, "connect_protected_denied", env.gov_a, tcp4, EPERM);
  ConnectCase(env, "connect_unprotected_allowed", env.gov_a,
              [] { return ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpOpen); }, 0);
  ConnectCase(env, "connect_nested_cgroup_denied", env.gov_a_child, tcp4, EPERM);
  ConnectCase(env, "connect_v4mapped_denied", env.gov_a,
              [] { return ConnectInet(AF_INET6, SOCK_STREAM, "::ffff:127.0.0.1", kTcpProtected); },
              EPERM);
  ConnectCase(env, "connect_ipv6_denied", env.gov_a,
              [] { return ConnectInet(AF_INET6, SOCK_STREAM, "::1", kTcp6Protected); }, EPERM);
  ConnectCase(env, "connect_udp_denied", env.gov_a,
              [] { return ConnectInet(AF_INET, SOCK_DGRAM, "127.0.0.1", kUdpProtected); }, EPERM);
  ConnectCase(env, "connect_unix_symlink_denied", env.gov_a,
              [&env] { return ConnectUnix(env.tmp + "/db-link.sock"); }, EPERM);
  SendPaths(env);
  GrantSingleUse(env);
  GrantRace(env);
  GrantExpired(env);
  GrantOtherCgroup(env);
  GrantOtherFamilies(env);
}

}  // namespace taogate::vmtest
