// taogate-vm-lsm-test: runs inside the qemu VM (tests/vm/run_vm_test.sh) as
// the only program besides busybox. It mounts what it needs, loads taogate's
// BPF LSM programs (and no cgroup-BPF program), builds its own cgroups,
// files and sockets, runs every scenario and prints one line per scenario:
//   TAOGATE-VM-RESULT name=<n> status=pass|fail detail=<d>
// then "TAOGATE-VM-DONE passed=<p> failed=<f>". The host parses these lines.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "vm_util.h"

namespace taogate::vmtest {
namespace {

void Mount(const char* fs, const char* dir) {
  mkdir(dir, 0755);
  if (mount(fs, dir, fs, 0, nullptr) != 0 && errno != EBUSY) {
    Info(std::string("mount ") + fs + " on " + dir + " failed: " + strerror(errno));
  }
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

void WriteFileOrDie(const std::string& path, const std::string& data, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0 || write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    Info("cannot write " + path);
  }
  if (fd >= 0) close(fd);
}

int Listen(int family, int type, const char* addr, uint16_t port) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t len = InetAddr(family, addr, port, &ss);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      (type == SOCK_STREAM && listen(fd, 1024) != 0)) {
    Info(std::string("listen ") + addr + ":" + std::to_string(port) + " failed: " + strerror(errno));
  }
  return fd;  // kept open for the life of the VM
}

template <typename T>
bool Ok(const absl::StatusOr<T>& s, const std::string& what) {
  if (!s.ok()) Info(what + ": " + std::string(s.status().message()));
  return s.ok();
}
bool Ok(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Info(what + ": " + std::string(s.message()));
  return s.ok();
}

// No cgroup-BPF program may be attached anywhere: the LSM path alone decides.
void NoCgroupHooks(Env& env) {
  const bpf_attach_type types[] = {BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT,
                                   BPF_CGROUP_UDP4_SENDMSG,  BPF_CGROUP_UDP6_SENDMSG,
                                   BPF_CGROUP_INET_SOCK_CREATE, BPF_CGROUP_INET_EGRESS};
  uint32_t total = 0;
  bool queried = true;
  for (const std::string& dir : {env.cg_mount, env.gov_a, env.gov_a_child}) {
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (bpf_attach_type t : types) {
      uint32_t ids[16], cnt = 16, flags = 0;
      if (fd < 0 || bpf_prog_query(fd, t, BPF_F_QUERY_EFFECTIVE, &flags, ids, &cnt) != 0) {
        queried = false;
        continue;
      }
      total += cnt;
    }
    if (fd >= 0) close(fd);
  }
  Report("no_cgroup_hooks_attached", queried && total == 0,
         "effective_cgroup_progs=" + std::to_string(total));
}

}  // namespace

void RunPinScenario(Env& env, std::unique_ptr<bpflsm::LsmGate> gate) {
  const std::string db = env.tmp + "/records.sqlite";  // write-protected
  auto write_db = [&] { return OpenErr(db, O_WRONLY); };
  const std::string dir = env.bpffs + "/taogate";
  mkdir(dir.c_str(), 0700);
  bool pinned = Ok(gate->Pin(dir), "pin");
  // A governed workload may not unpin, rename or unmount taogate's state.
  auto err = [](int rc) { return rc == 0 ? 0 : errno; };
  const std::string pin = dir + "/link_tg_file_open";
  int g_unlink = RunIn(env.gov_a, [&] { return err(unlink(pin.c_str())); });
  int g_rename = RunIn(env.gov_a, [&] { return err(rename(pin.c_str(), (dir + "/x").c_str())); });
  int g_umount = RunIn(env.gov_a, [&] { return err(umount2(env.bpffs.c_str(), MNT_DETACH)); });
  int g_rmdir = RunIn(env.gov_a, [&] { return err(rmdir(env.gov_b.c_str())); });
  Report("agent_state_protected",
         pinned && g_unlink == EPERM && g_rename == EPERM && g_umount == EPERM && g_rmdir == EPERM,
         "gov_unpin=" + ErrName(g_unlink) + ",gov_rename_pin=" + ErrName(g_rename) +
             ",gov_umount_bpffs=" + ErrName(g_umount) + ",gov_rmdir_cgroup=" + ErrName(g_rmdir));
  gate.reset();  // the "agent" exits: every fd of ours is closed
  env.gate = nullptr;
  int after_exit = RunIn(env.gov_a, write_db);
  // Unpin, as an operator uninstalling taogate would.
  bool unpinned = Ok(bpflsm::LsmGate::Unpin(dir), "unpin");
  // The last link reference is dropped from a workqueue on newer kernels
  // (6.12 here), so detachment is asynchronous: wait for it, bounded.
  int after_unpin = EPERM, waited_ms = 0;
  for (; waited_ms <= 10000; waited_ms += 100) {
    after_unpin = RunIn(env.gov_a, write_db);
    if (after_unpin != EPERM) break;
    usleep(100000);
  }
  Report("pinned_enforcement_survives_agent",
         pinned && unpinned && after_exit == EPERM && after_unpin == 0,
         "after_agent_exit=" + ErrName(after_exit) + ",after_unpin=" + ErrName(after_unpin) +
             ",detach_ms=" + std::to_string(waited_ms));
}

}  // namespace taogate::vmtest

using namespace taogate;
using namespace taogate::vmtest;

int main() {
  Mount("proc", "/proc");
  Mount("sysfs", "/sys");
  Mount("securityfs", "/sys/kernel/security");
  Mount("tmpfs", "/tmp");
  Env env;
  env.cg_mount = "/sys/fs/cgroup";
  mkdir("/sys/fs/cgroup", 0755);
  if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, nullptr) != 0 && errno != EBUSY) {
    Info(std::string("mount cgroup2: ") + strerror(errno));
  }
  env.bpffs = "/tmp/bpffs";
  Mount("bpf", env.bpffs.c_str());
  utsname u{};
  uname(&u);
  Info(std::string("kernel=") + u.release + " lsm=" + Slurp("/sys/kernel/security/lsm"));

  // The protected "agent" process is forked before anything BPF is open, so
  // it holds no fd of ours (the pinning scenario counts on that).
  env.agent = fork();
  if (env.agent == 0) {
    for (;;) pause();
  }
  auto gate = bpflsm::LsmGate::Load({});
  Report("load_attach", gate.ok(),
         gate.ok() ? "bpf_hook_nargs=" + std::to_string((*gate)->bpf_hook_nargs())
                   : std::string(gate.status().message()));
  if (!gate.ok()) return Done();
  env.gate = gate->get();

  // Cgroups, files, sockets of our own.
  const std::string base = env.cg_mount + "/taogate-vm-" + std::to_string(getpid());
  env.gov_a = base + "-gov-a";
  env.gov_a_child = env.gov_a + "/child";
  env.gov_b = base + "-gov-b";
  env.ungov = base + "-ungov";
  for (const auto& d : {env.gov_a, env.gov_a_child, env.gov_b, env.ungov}) mkdir(d.c_str(), 0755);
  bool setup = Ok(bpflsm::ResolveCgroup(env.cg_mount, env.gov_a), "resolve gov_a") &&
               Ok(bpflsm::ResolveCgroup(env.cg_mount, env.gov_b), "resolve gov_b");
  if (setup) {
    env.ref_a = *bpflsm::ResolveCgroup(env.cg_mount, env.gov_a);
    env.ref_b = *bpflsm::ResolveCgroup(env.cg_mount, env.gov_b);
    setup = Ok(env.gate->Govern(env.ref_a), "govern a") && Ok(env.gate->Govern(env.ref_b), "govern b");
  }
  env.tmp = "/tmp/work";
  mkdir(env.tmp.c_str(), 0755);
  int listener = Listen(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpPort);
  WriteFileOrDie(env.tmp + "/records.sqlite", "SQLite format 3", 0666);
  link((env.tmp + "/records.sqlite").c_str(), (env.tmp + "/alias.sqlite").c_str());
  mkdir((env.tmp + "/creds").c_str(), 0755);
  mkdir((env.tmp + "/creds/sub").c_str(), 0755);
  WriteFileOrDie(env.tmp + "/creds/sub/token", "s3cr3t", 0644);
  WriteFileOrDie(env.tmp + "/plain.txt", "plain", 0666);
  {
    std::ifstream in("/bin/busybox", std::ios::binary);
    std::string bin((std::istreambuf_iterator<char>(in)), {});
    WriteFileOrDie(env.tmp + "/listed-tool", bin, 0755);
  }
  using bpf::TG_DENY_EXEC, bpf::TG_DENY_READ, bpf::TG_DENY_WRITE;
  auto g = env.gate;
  setup = setup &&
          Ok(g->ProtectInode(*bpflsm::MakeInodeKey(env.tmp + "/records.sqlite"), TG_DENY_WRITE, false), "i1") &&
          Ok(g->ProtectInode(*bpflsm::MakeInodeKey(env.tmp + "/creds"), TG_DENY_READ | TG_DENY_WRITE, true), "i2") &&
          Ok(g->ProtectInode(*bpflsm::MakeInodeKey(env.tmp + "/listed-tool"), TG_DENY_EXEC, false), "i3");
  setup = setup && Ok(g->ProtectPid(env.agent), "protect agent pid");
  Report("setup", setup, "cgroup_a=" + std::to_string(env.ref_a.id) + ",level=" +
                             std::to_string(env.ref_a.level) + ",agent=" + std::to_string(env.agent));

  {
    // The loader must never govern the root cgroup or its own cgroup.
    bpflsm::CgroupRef root{0, 0};
    struct stat st;
    if (stat(env.cg_mount.c_str(), &st) == 0) root.id = st.st_ino;
    bool root_refused = !env.gate->Govern(root).ok();
    auto ungov_ref = bpflsm::ResolveCgroup(env.cg_mount, env.ungov);
    int own = !ungov_ref.ok() ? 2 : RunIn(env.ungov, [&] {
      return env.gate->Govern(*ungov_ref).ok() ? 1 : 0;  // runs as a process in ungov
    });
    Report("govern_refuses_root_and_own_cgroup", root_refused && own == 0,
           std::string("root_refused=") + (root_refused ? "yes" : "no") +
               ",own_refused=" + (own == 0 ? "yes" : "no"));
  }
  NoCgroupHooks(env);
  {
    // The LSM has no network path (the cgroup gate is the one network
    // enforcement, docs/decisions.md): with no cgroup hook attached, a
    // governed connect goes through.
    int gov = RunIn(env.gov_a, [] { return ConnectInet(AF_INET, SOCK_STREAM, "127.0.0.1", kTcpPort); });
    Report("lsm_leaves_network_to_gate", gov == 0, "gov_connect=" + ErrName(gov));
  }
  RunFileScenarios(env);
  RunSelfProtectionScenarios(env);
  RunPriorDenyScenario(env);
  RunCostInfo(env);
  auto probe = bpflsm::ProbeLsm();
  std::string hooks;
  bool all_enforcing = !probe.hooks.empty();
  for (const auto& h : probe.hooks) {
    hooks += (hooks.empty() ? "" : "+") + h.hook + (h.enforcing ? "" : "(absent)");
    all_enforcing = all_enforcing && h.enforcing;
  }
  Report("probe_reports_bpf_lsm", probe.bpf_lsm_active && probe.attach_ok && all_enforcing,
         "active_lsms=" + probe.active_lsms + ",attach_ok=" + (probe.attach_ok ? "yes" : "no") +
             ",hooks=" + hooks);
  RunEnforcerScenarios(env);
  RunPinScenario(env, std::move(*gate));

  kill(env.agent, SIGKILL);
  waitpid(env.agent, nullptr, 0);
  close(listener);
  for (const auto& d : {env.gov_a_child, env.gov_a, env.gov_b, env.ungov}) rmdir(d.c_str());
  return Done();
}
