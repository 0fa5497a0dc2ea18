// taogatectl run --workload NAME [--governed-root DIR] [--hold [--hold-socket P]] -- CMD [ARGS...]:
// starts CMD in the governed workload cgroup DIR/NAME (created if needed) and
// exits with its status. For bare hosts and tests; the cgroup is left in
// place so grants bound to it stay meaningful.
// --hold (docs/hold.md): before exec, in the cgroup, the child connects to
// the agent's hold socket, installs the hold filter and hands the agent its
// listener; CMD's connects to protected targets then wait while the agent
// acquires a TAO for it. Without the agent's "ok" CMD never runs.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "command.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/common/strings.h"
#include "taogate/hold/filter.h"
#include "taogate/hold/handoff.h"

namespace taogate::cli {
namespace {

bool ValidName(const std::string& n) {
  if (n.empty() || n == "." || n == ".." || n.size() > 200) return false;
  for (char c : n) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

// In the child, in the cgroup: connect first (a connect after the filter
// would be held by the supervisor it is trying to reach), filter, hand off.
absl::Status HoldSelf(const std::string& socket) {
  auto conn = hold::ConnectSupervisor(socket);
  if (!conn.ok()) return conn.status();
  auto listener = hold::InstallHoldFilter();
  if (!listener.ok()) return listener.status();
  return hold::SendListener(conn->get(), listener->get());  // both close on exec
}

int Run(const std::string& workload, std::string governed_root, bool print_id, const std::string& hold_socket,
        const std::vector<std::string>& cmd) {
  if (!ValidName(workload)) return Fail(StrCat("bad workload name '", workload, "'"));
  if (cmd.empty()) return Fail("no command given (taogatectl run --workload W -- CMD...)");
  if (governed_root.empty()) {
    auto mount = bpf::Cgroup2Mount();
    if (!mount.ok()) return Fail(std::string(mount.status().message()));
    governed_root = *mount + "/taogate";
  }
  std::string cg = governed_root + "/" + workload;
  for (const std::string& d : {governed_root, cg}) {
    if (absl::Status s = bpf::CreateCgroup(d); !s.ok()) return Fail(std::string(s.message()));
  }
  if (print_id) {
    auto id = bpf::CgroupId(cg);
    if (!id.ok()) return Fail(std::string(id.status().message()));
    std::cerr << "taogatectl: workload " << workload << " cgroup " << cg << " id " << *id << "\n";
  }
  pid_t pid = fork();
  if (pid < 0) return Fail(StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    // Move first, exec second: CMD never runs outside the governed cgroup.
    if (!bpf::MoveToCgroup(0, cg).ok()) _exit(126);
    if (!hold_socket.empty()) {
      if (absl::Status st = HoldSelf(hold_socket); !st.ok()) {
        std::cerr << "taogatectl: --hold: " << st.message() << "\n";
        _exit(125);
      }
    }
    std::vector<char*> argv;
    for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Fail(StrCat("waitpid: ", std::strerror(errno)));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void Register(CLI::App& root) {
  auto* cmd = root.add_subcommand("run", "Run a command in a governed workload cgroup");
  static std::string workload, governed_root, hold_socket = "/run/taogate/hold.sock";
  static bool print_id = false, hold = false;
  static std::vector<std::string> argv;
  cmd->add_option("--workload", workload, "workload name (cgroup under the governed root)")->required();
  cmd->add_option("--governed-root", governed_root,
                  "governed subtree root (default <cgroup2 mount>/taogate)");
  cmd->add_flag("--print-cgroup-id", print_id, "print the workload cgroup id to stderr");
  cmd->add_flag("--hold", hold, "hold CMD's connects to protected targets while the agent acquires (docs/hold.md)");
  cmd->add_option("--hold-socket", hold_socket, "the agent's hold socket (default /run/taogate/hold.sock)");
  cmd->add_option("cmd", argv, "command and arguments (after --)")->required();
  cmd->callback([] { ExitCode() = Run(workload, governed_root, print_id, hold ? hold_socket : "", argv); });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
