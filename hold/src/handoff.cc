#include "taogate/hold/handoff.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::hold {
namespace {

absl::StatusOr<sockaddr_un> Addr(const std::string& path) {
  sockaddr_un a{};
  if (path.empty() || path.size() >= sizeof(a.sun_path))
    return absl::InvalidArgumentError(StrCat("unix socket path too long or empty: ", path));
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

void Answer(int sock, const absl::Status& st) {
  std::string line = st.ok() ? "ok\n" : StrCat("error: ", st.message().substr(0, 400), "\n");
  (void)!send(sock, line.data(), line.size(), MSG_NOSIGNAL);
}

}  // namespace

absl::StatusOr<UniqueFd> ConnectSupervisor(const std::string& path) {
  TG_ASSIGN_OR_RETURN(sockaddr_un a, Addr(path));
  UniqueFd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return ErrnoStatus(errno, "socket(AF_UNIX)");
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
    return ErrnoStatus(errno, StrCat("connect ", path));
  return s;
}

absl::Status SendListener(int sock, int listener) {
  iovec iov{const_cast<char*>(kHandoffHello), sizeof(kHandoffHello) - 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &listener, sizeof(int));
  if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0) return ErrnoStatus(errno, "sendmsg(SCM_RIGHTS)");
  shutdown(sock, SHUT_WR);
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = read(sock, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) reply.append(buf, static_cast<size_t>(n));
  if (reply == "ok\n") return absl::OkStatus();
  if (reply.empty()) return absl::UnavailableError("the supervisor closed without an answer");
  return absl::PermissionDeniedError(StrCat("the supervisor refused the listener: ", reply));
}

absl::StatusOr<Received> ReceiveListener(int sock) {
  Received r;
  std::vector<char> buf(kMaxPayload);
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 4)] = {};
  iovec iov{buf.data(), buf.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, "recvmsg");
  std::vector<UniqueFd> fds;  // every fd received is owned (and closed) here
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  if ((m.msg_flags & MSG_CTRUNC) != 0 || fds.size() != 1)
    return absl::InvalidArgumentError(StrCat("expected exactly one fd, got ", fds.size()));
  r.listener = std::move(fds[0]);
  r.payload.assign(buf.data(), static_cast<size_t>(n));
  return r;
}

absl::StatusOr<std::unique_ptr<HandoffServer>> HandoffServer::Start(const std::string& path, mode_t mode,
                                                                    Accept accept) {
  std::unique_ptr<HandoffServer> s(new HandoffServer());
  s->path_ = path;
  s->accept_ = std::move(accept);
  TG_ASSIGN_OR_RETURN(sockaddr_un a, Addr(path));
  s->listen_fd_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s->listen_fd_) return ErrnoStatus(errno, "socket(AF_UNIX)");
  unlink(path.c_str());
  mode_t old = umask(0777 & ~mode);
  int rc = bind(s->listen_fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
  umask(old);
  if (rc != 0) return ErrnoStatus(errno, StrCat("bind ", path));
  if (chmod(path.c_str(), mode) != 0) return ErrnoStatus(errno, "chmod hold socket");
  if (listen(s->listen_fd_.get(), 64) != 0) return ErrnoStatus(errno, "listen");
  s->wake_fd_.Reset(eventfd(0, EFD_CLOEXEC));
  if (!s->wake_fd_) return ErrnoStatus(errno, "eventfd");
  s->thread_ = std::thread([p = s.get()] { p->Loop(); });
  return s;
}

void HandoffServer::Loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    UniqueFd conn(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) {
      if (errno == EMFILE || errno == ENFILE) usleep(10'000);
      continue;
    }
    timeval tv{2, 0};  // a client that never sends cannot stall the loop
    setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    auto r = ReceiveListener(conn.get());
    Answer(conn.get(), r.ok() ? accept_(conn.get(), std::move(*r)) : r.status());
  }
}

void HandoffServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  uint64_t one = 1;
  if (wake_fd_) (void)!write(wake_fd_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  listen_fd_.Reset();
  unlink(path_.c_str());
}

HandoffServer::~HandoffServer() { Stop(); }

}  // namespace taogate::hold
