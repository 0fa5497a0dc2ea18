#include "vm_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace taogate::vmtest {

constexpr int kJoinFailed = 199;  // child could not join its cgroup

int RunIn(const std::string& cg, const std::function<int()>& fn) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return 2000;
  if (pid == 0) {
    if (!cg.empty()) {
      int fd = open((cg + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(kJoinFailed);
      close(fd);
    }
    _exit(fn());
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 2000;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status) == kJoinFailed ? 2001 : WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);
  return 2000;
}

socklen_t InetAddr(int family, const char* addr, uint16_t port, sockaddr_storage* ss) {
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    inet_pton(AF_INET, addr, &sin->sin_addr);
    return sizeof(*sin);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  inet_pton(AF_INET6, addr, &sin6->sin6_addr);
  return sizeof(*sin6);
}

int ConnectInet(int family, int type, const char* addr, uint16_t port) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_storage ss{};
  socklen_t len = InetAddr(family, addr, port, &ss);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

int OpenErr(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

static void WriteLine(const std::string& line) {
  // One write per line so kernel messages cannot split it.
  std::string l = line + "\n";
  fflush(stdout);
  ssize_t off = 0;
  while (off < static_cast<ssize_t>(l.size())) {
    ssize_t n = write(STDOUT_FILENO, l.data() + off, l.size() - off);
    if (n <= 0) return;
    off += n;
  }
}

static int g_passed = 0, g_failed = 0;
int Passed() { return g_passed; }
int Failed() { return g_failed; }

void Report(const std::string& name, bool pass, const std::string& detail) {
  ++(pass ? g_passed : g_failed);
  WriteLine("TAOGATE-VM-RESULT name=" + name + " status=" + (pass ? "pass" : "fail") +
            " detail=" + detail);
}

int Done() {
  WriteLine("TAOGATE-VM-DONE passed=" + std::to_string(g_passed) +
            " failed=" + std::to_string(g_failed));
  return g_failed == 0 ? 0 : 1;
}

void Info(const std::string& text) { WriteLine("TAOGATE-VM-INFO " + text); }

int ExecTrue(const std::string& path) {
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  execve(path.c_str(), argv, envp);
  return errno;  // only reached on failure
}

std::string ErrName(int err) {
  switch (err) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    default: return "errno" + std::to_string(err);
  }
}

}  // namespace taogate::vmtest
