// Verbs for the hold tests: a loopback TCP listener, and a forked workload
// that installs the hold filter, hands its listener to the test (the
// supervisor's side), drops its own copy and runs a body that reports ints
// (errnos) back through a pipe.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "taogate/common/fd.h"
#include "taogate/hold/filter.h"
#include "taogate/hold/handoff.h"

namespace taogate::hold::testing {

struct Loopback {
  UniqueFd fd;
  uint16_t port = 0;
  Loopback() : fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd.get(), 128) != 0 ||
        getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "loopback listener";
    port = ntohs(a.sin_port);
  }
  // Connections that reached the listener so far (accepts and closes them).
  int Accepted() {
    int n = 0;
    while (true) {
      UniqueFd c(accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) return n;
      ++n;
    }
  }
};

// 0 or the errno of connect() to 127.0.0.1:port.
inline int ConnectErrno(uint16_t port, bool nonblock = false) {
  UniqueFd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? 0 : errno;
}

struct Workload {
  Workload() = default;
  Workload(Workload&& o) noexcept
      : pid(std::exchange(o.pid, -1)), listener(std::move(o.listener)), results(std::move(o.results)) {}
  pid_t pid = -1;
  UniqueFd listener;  // the filter's listener, for the supervisor
  UniqueFd results;   // ints the body wrote
  // The next int the body reports (waits up to timeout_ms; -1 if none).
  int Next(int timeout_ms = 10'000) {
    pollfd p{results.get(), POLLIN, 0};
    int v = -1;
    if (poll(&p, 1, timeout_ms) != 1 || read(results.get(), &v, sizeof(v)) != sizeof(v)) return -1;
    return v;
  }
  int Wait() {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    return st;
  }
  ~Workload() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      Wait();
    }
  }
};

inline void Report(int out, int v) { (void)!write(out, &v, sizeof(v)); }

// Forks a workload that runs `body(out)` under the hold filter.
inline Workload StartHeld(const std::function<void(int out)>& body) {
  Workload w;
  int sp[2], pp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0 || pipe2(pp, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "socketpair/pipe";
    return w;
  }
  w.pid = fork();
  if (w.pid == 0) {
    close(sp[0]);
    close(pp[0]);
    auto l = InstallHoldFilter();
    if (!l.ok() || !SendListener(sp[1], l->get()).ok()) _exit(120);
    l->Reset();  // only the supervisor holds it now
    body(pp[1]);
    _exit(0);
  }
  close(sp[1]);
  close(pp[1]);
  UniqueFd conn(sp[0]);
  w.results.Reset(pp[0]);
  auto r = ReceiveListener(conn.get());
  EXPECT_TRUE(r.ok()) << r.status();
  if (r.ok()) w.listener = std::move(r->listener);
  (void)!write(conn.get(), "ok\n", 3);
  return w;
}

}  // namespace taogate::hold::testing
