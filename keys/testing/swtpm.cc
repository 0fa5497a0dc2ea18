#include "taogate/keys/swtpm.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "taogate/common/fd.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

extern char** environ;

namespace taogate::keys {
namespace {

// posix_spawnp with stdout/stderr appended to `log`; returns the child pid.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return ErrnoStatus(rc, StrCat("spawn ", argv[0]));
  return pid;
}

bool SocketAccepts(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!fd || path.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Swtpm>> Swtpm::Start(const std::string& state_dir) {
  std::unique_ptr<Swtpm> s(new Swtpm(state_dir));
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (!std::filesystem::exists(std::filesystem::path(state_dir) / "tpm2-00.permall")) {
    TG_ASSIGN_OR_RETURN(pid_t pid, Spawn({"swtpm_setup", "--tpm2", "--tpmstate", state_dir,
                                          "--pcr-banks", "sha256", "--config", "/dev/null"},
                                         state_dir + "/swtpm.log"));
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return absl::InternalError(StrCat("swtpm_setup failed (see ", state_dir, "/swtpm.log)"));
  }
  TG_RETURN_IF_ERROR(s->Launch());
  return s;
}

absl::Status Swtpm::Launch() {
  const std::string sock = dir_ + "/tpm.sock";
  std::error_code ec;
  std::filesystem::remove(sock, ec);
  std::filesystem::remove(sock + ".ctrl", ec);
  TG_ASSIGN_OR_RETURN(pid_, Spawn({"swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + dir_,
                                   "--server", "type=unixio,path=" + sock, "--ctrl",
                                   "type=unixio,path=" + sock + ".ctrl", "--flags",
                                   "not-need-init,startup-clear"},
                                  dir_ + "/swtpm.log"));
  for (int i = 0; i < 500; ++i) {
    if (SocketAccepts(sock)) return absl::OkStatus();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(StrCat("swtpm exited at start (see ", dir_, "/swtpm.log)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return absl::DeadlineExceededError("swtpm socket did not come up within 5 s");
}

std::string Swtpm::tcti() const { return StrCat("swtpm:path=", dir_, "/tpm.sock"); }

void Swtpm::Signal(int sig) {
  if (pid_ <= 0) return;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Swtpm::Kill() { Signal(SIGKILL); }
void Swtpm::Stop() { Signal(SIGTERM); }

absl::Status Swtpm::Restart() {
  if (running()) Stop();
  return Launch();
}

Swtpm::~Swtpm() { Stop(); }

}  // namespace taogate::keys
