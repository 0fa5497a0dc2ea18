#include "gate_env.h"

#include <arpa/inet.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "report.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::bench {

namespace {

// The mover: reads {pid, path} requests, answers with the errno of the move.
[[noreturn]] void Mover(int sock) {
  char buf[4096];
  for (;;) {
    ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);
    if (n <= static_cast<ssize_t>(sizeof(pid_t))) _exit(0);
    pid_t pid;
    std::memcpy(&pid, buf, sizeof(pid));
    buf[n] = 0;
    absl::Status st = bpf::MoveToCgroup(pid, buf + sizeof(pid_t));
    int err = st.ok() ? 0 : EIO;
    if (send(sock, &err, sizeof(err), 0) != sizeof(err)) _exit(0);
  }
}

}  // namespace

LoopbackListener ListenLoopback(uint16_t port) {
  LoopbackListener l;
  l.fd = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  l.addr.sin_family = AF_INET;
  l.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  l.addr.sin_port = htons(port);
  socklen_t len = sizeof(l.addr);
  if (bind(l.fd.get(), reinterpret_cast<sockaddr*>(&l.addr), len) != 0 || listen(l.fd.get(), 1024) != 0) {
    l.fd.Reset();
    return l;
  }
  getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&l.addr), &len);
  return l;
}

uint64_t ConnectCycle(const LoopbackListener& l) {
  uint64_t t0 = MonotonicNs();
  UniqueFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(c.get(), reinterpret_cast<const sockaddr*>(&l.addr), sizeof(l.addr)) != 0) return 0;
  UniqueFd s(accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  linger lg{1, 0};
  setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  c.Reset();
  s.Reset();
  return MonotonicNs() - t0;
}

absl::Status MoveSelf(GateEnv& env, const std::string& cgroup) {
  std::string req(sizeof(pid_t), '\0');
  pid_t me = getpid();
  std::memcpy(req.data(), &me, sizeof(me));
  req += cgroup;
  int err = 0;
  if (send(env.mover, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size()) ||
      recv(env.mover, &err, sizeof(err), 0) != sizeof(err)) {
    return ErrnoStatus(errno, "mover");
  }
  return err == 0 ? absl::OkStatus() : ErrnoStatus(err, "move to " + cgroup);
}

GateEnv::~GateEnv() {
  // Best effort, in a destructor: a bench that cannot go home or detach
  // leaves a cgroup or pin behind for the operator, never a wrong figure.
  if (!home_cg.empty() && mover >= 0) (void)MoveSelf(*this, home_cg);
  if (mover >= 0) {
    close(mover);
    waitpid(mover_pid, nullptr, 0);
  }
  gate.reset();
  if (!pin_root.empty()) (void)bpf::Gate::Detach(pin_root);
  if (!bpffs.empty()) umount2(bpffs.c_str(), MNT_DETACH);
  workload = bpf::ScopedCgroup();
  governed = bpf::ScopedCgroup();
  baseline = bpf::ScopedCgroup();
  std::error_code ec;
  if (!tmp.empty()) std::filesystem::remove_all(tmp, ec);
}

absl::Status SetUpGateEnv(GateEnv& env, const std::string& name, bool with_baseline,
                          bpf::GateOptions options) {
  TG_ASSIGN_OR_RETURN(std::string mnt, bpf::Cgroup2Mount());
  TG_ASSIGN_OR_RETURN(env.home_cg, bpf::CgroupPathOfPid(getpid()));
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
    return ErrnoStatus(errno, "socketpair");
  }
  env.mover_pid = fork();
  if (env.mover_pid == 0) {
    close(sp[0]);
    Mover(sp[1]);
  }
  close(sp[1]);
  if (env.mover_pid < 0) {
    close(sp[0]);
    return ErrnoStatus(errno, "fork mover");
  }
  env.mover = sp[0];
  std::string t = "/tmp/" + name + "-XXXXXX";
  if (!mkdtemp(t.data())) return ErrnoStatus(errno, "mkdtemp");
  env.tmp = t;
  std::string fs = t + "/bpffs";
  if (mkdir(fs.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir bpffs");
  if (mount("bpf", fs.c_str(), "bpf", 0, "mode=0700") != 0) return ErrnoStatus(errno, "mount bpffs");
  env.bpffs = fs;
  env.pin_root = fs + "/taogate";
  std::string base = StrCat(mnt, "/", name, "-", getpid());
  TG_ASSIGN_OR_RETURN(env.governed, bpf::ScopedCgroup::Create(base));
  TG_ASSIGN_OR_RETURN(env.workload, bpf::ScopedCgroup::Create(base + "/w"));
  if (with_baseline) {
    TG_ASSIGN_OR_RETURN(env.baseline, bpf::ScopedCgroup::Create(base + "-baseline"));
  }
  options.pin_root = env.pin_root;
  options.governed_cgroup = env.governed.path();
  TG_ASSIGN_OR_RETURN(env.gate, bpf::Gate::OpenOrAdopt(options));
  return absl::OkStatus();
}

}  // namespace taogate::bench
