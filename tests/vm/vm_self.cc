// File, exec and self-protection scenarios: lsm/file_open,
// lsm/bprm_check_security, lsm/task_kill, lsm/ptrace_access_check, lsm/bpf.
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vm_util.h"

namespace taogate::vmtest {
namespace {

int BpfMapCreate() {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  long fd = syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

// clone3(CLONE_INTO_CGROUP) into `cg`; 0 if a child was created there.
int CloneInto(const std::string& cg) {
  int cgfd = open(cg.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgfd < 0) return 100 + errno;
  clone_args args;
  std::memset(&args, 0, sizeof(args));
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cgfd);
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) _exit(0);
  int err = pid < 0 ? errno : 0;
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  close(cgfd);
  return err;
}

bool AgentAlive(pid_t agent) {
  return kill(agent, 0) == 0 && waitpid(agent, nullptr, WNOHANG) == 0;
}

}  // namespace

void RunFileScenarios(Env& env) {
  const std::string db = env.tmp + "/records.sqlite";
  const std::string db_link = env.tmp + "/alias.sqlite";
  const std::string creds = env.tmp + "/creds";
  const std::string secret = creds + "/sub/token";
  const std::string listed = env.tmp + "/listed-tool";

  // Protected database file: reading allowed, writing denied.
  int w_gov = RunIn(env.gov_a, [&] { return OpenErr(db, O_WRONLY); });
  int rw_gov = RunIn(env.gov_a, [&] { return OpenErr(db, O_RDWR); });
  int r_gov = RunIn(env.gov_a, [&] { return OpenErr(db, O_RDONLY); });
  int w_ungov = RunIn(env.ungov, [&] { return OpenErr(db, O_WRONLY); });
  Report("file_write_denied_read_allowed",
         w_gov == EPERM && rw_gov == EPERM && r_gov == 0 && w_ungov == 0,
         "gov_write=" + ErrName(w_gov) + ",gov_rdwr=" + ErrName(rw_gov) +
             ",gov_read=" + ErrName(r_gov) + ",ungov_write=" + ErrName(w_ungov));

  // Attack: a hard link is another name for the same inode.
  int link_gov = RunIn(env.gov_a, [&] { return OpenErr(db_link, O_WRONLY | O_APPEND); });
  Report("file_hardlink_denied", link_gov == EPERM, "gov_write_via_link=" + ErrName(link_gov));

  // Credentials directory protected as a subtree, for reading too.
  int s_gov = RunIn(env.gov_a, [&] { return OpenErr(secret, O_RDONLY); });
  int d_gov = RunIn(env.gov_a, [&] { return OpenErr(creds, O_RDONLY | O_DIRECTORY); });
  int s_ungov = RunIn(env.ungov, [&] { return OpenErr(secret, O_RDONLY); });
  int other_gov = RunIn(env.gov_a, [&] { return OpenErr(env.tmp + "/plain.txt", O_RDWR); });
  Report("dir_subtree_read_denied",
         s_gov == EPERM && d_gov == EPERM && s_ungov == 0 && other_gov == 0,
         "gov_secret=" + ErrName(s_gov) + ",gov_dir=" + ErrName(d_gov) +
             ",ungov_secret=" + ErrName(s_ungov) + ",gov_unprotected=" + ErrName(other_gov));

  // Changing the protected file without opening it.
  const std::string plain = env.tmp + "/plain.txt";
  auto err = [](int rc) { return rc == 0 ? 0 : errno; };
  int trunc = RunIn(env.gov_a, [&] { return err(truncate(db.c_str(), 0)); });
  int unl = RunIn(env.gov_a, [&] { return err(unlink(db.c_str())); });
  int ren = RunIn(env.gov_a, [&] { return err(rename(db.c_str(), (db + ".moved").c_str())); });
  int over = RunIn(env.gov_a, [&] { return err(rename(plain.c_str(), db.c_str())); });
  int chm = RunIn(env.gov_a, [&] { return err(chmod(db.c_str(), 0777)); });
  int sub = RunIn(env.gov_a, [&] { return err(unlink(secret.c_str())); });
  int rmd = RunIn(env.gov_a, [&] { return err(rmdir((creds + "/sub").c_str())); });
  int ungov_chmod = RunIn(env.ungov, [&] { return err(chmod(db.c_str(), 0666)); });
  struct stat st;
  bool intact = stat(db.c_str(), &st) == 0 && st.st_size > 0 && stat(secret.c_str(), &st) == 0;
  Report("path_changes_denied",
         trunc == EPERM && unl == EPERM && ren == EPERM && over == EPERM && chm == EPERM &&
             sub == EPERM && rmd == EPERM && ungov_chmod == 0 && intact,
         "truncate=" + ErrName(trunc) + ",unlink=" + ErrName(unl) + ",rename=" + ErrName(ren) +
             ",rename_onto=" + ErrName(over) + ",chmod=" + ErrName(chm) +
             ",unlink_in_subtree=" + ErrName(sub) + ",rmdir_in_subtree=" + ErrName(rmd) +
             ",ungov_chmod=" + ErrName(ungov_chmod) + ",intact=" + (intact ? "yes" : "no"));

  // Exec of a listed binary.
  int x_gov = RunIn(env.gov_a, [&] { return ExecTrue(listed); });
  int x_ungov = RunIn(env.ungov, [&] { return ExecTrue(listed); });
  int x_other = RunIn(env.gov_a, [&] { return ExecTrue("/bin/busybox"); });
  int x_read = RunIn(env.gov_a, [&] { return OpenErr(listed, O_RDONLY); });
  Report("exec_listed_denied", x_gov == EPERM && x_ungov == 0 && x_other == 0 && x_read == 0,
         "gov_exec=" + ErrName(x_gov) + ",ungov_exec=" + ErrName(x_ungov) +
             ",gov_exec_unlisted=" + ErrName(x_other) + ",gov_read_listed=" + ErrName(x_read));
}

void RunSelfProtectionScenarios(Env& env) {
  const pid_t agent = env.agent;
  int k_gov = RunIn(env.gov_a, [agent] { return kill(agent, SIGKILL) == 0 ? 0 : errno; });
  bool alive = AgentAlive(agent);
  int k_gov_other = RunIn(env.gov_a, [] {
    pid_t me = getpid();
    return kill(me, 0) == 0 ? 0 : errno;
  });
  int k_ungov = RunIn(env.ungov, [agent] { return kill(agent, 0) == 0 ? 0 : errno; });
  Report("kill_agent_denied", k_gov == EPERM && alive && k_gov_other == 0 && k_ungov == 0,
         "gov_sigkill=" + ErrName(k_gov) + ",agent_alive=" + (alive ? "yes" : "no") +
             ",gov_signal_self=" + ErrName(k_gov_other) + ",ungov_signal0=" + ErrName(k_ungov));

  auto seize = [agent] {
    return ptrace(PTRACE_SEIZE, agent, nullptr, nullptr) == 0 ? 0 : errno;
  };
  int p_gov = RunIn(env.gov_a, seize);
  int p_ungov = RunIn(env.ungov, seize);  // tracer exits: the agent is detached
  Report("ptrace_agent_denied", p_gov == EPERM && p_ungov == 0 && AgentAlive(agent),
         "gov_seize=" + ErrName(p_gov) + ",ungov_seize=" + ErrName(p_ungov));

  // Leaving the governed cgroup: by cgroup.procs, or by clone3 into another.
  const std::string procs = env.ungov + "/cgroup.procs";
  int e_write = RunIn(env.gov_a, [&] { return OpenErr(procs, O_WRONLY); });
  int e_clone = RunIn(env.gov_a, [&] { return CloneInto(env.ungov); });
  int u_write = RunIn(env.ungov, [&] { return OpenErr(procs, O_WRONLY); });
  int u_clone = RunIn(env.ungov, [&] { return CloneInto(env.ungov); });
  Report("cgroup_escape_denied", e_write == EPERM && e_clone == EPERM && u_write == 0 && u_clone == 0,
         "gov_write_procs=" + ErrName(e_write) + ",gov_clone_into_cgroup=" + ErrName(e_clone) +
             ",ungov_write_procs=" + ErrName(u_write) + ",ungov_clone_into_cgroup=" +
             ErrName(u_clone));

  int b_gov = RunIn(env.gov_a, BpfMapCreate);
  int b_nested = RunIn(env.gov_a_child, BpfMapCreate);
  int b_ungov = RunIn(env.ungov, BpfMapCreate);
  Report("bpf_syscall_denied", b_gov == EPERM && b_nested == EPERM && b_ungov == 0,
         "gov=" + ErrName(b_gov) + ",gov_nested=" + ErrName(b_nested) +
             ",ungov=" + ErrName(b_ungov));
}

}  // namespace taogate::vmtest
