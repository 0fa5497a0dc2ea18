#include "taogate/agent/unix_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <grpcpp/server_posix.h>

#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::agent {

absl::StatusOr<std::unique_ptr<UnixGrpcServer>> UnixGrpcServer::Start(
    const UnixServerOptions& opts, std::vector<grpc::Service*> services) {
  std::unique_ptr<UnixGrpcServer> s(new UnixGrpcServer());
  s->path_ = opts.path;
  sockaddr_un addr{};
  if (opts.path.empty() || opts.path.size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError(StrCat("unix socket path too long or empty: ", opts.path));
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(opts.path).parent_path(), ec);

  s->listen_fd_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s->listen_fd_) return ErrnoStatus(errno, "socket(AF_UNIX)");
  // A stale socket from a previous run is replaced; a live agent is detected
  // by connect() succeeding.
  if (std::filesystem::exists(opts.path)) {
    UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, opts.path.c_str(), opts.path.size() + 1);
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
      return absl::AlreadyExistsError(StrCat(opts.path, " is served by another process"));
    unlink(opts.path.c_str());
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, opts.path.c_str(), opts.path.size() + 1);
  // Create with the final mode: no window in which the socket is wider open.
  mode_t old = umask(0777 & ~opts.mode);
  int rc = bind(s->listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (rc != 0) return ErrnoStatus(errno, StrCat("bind ", opts.path));
  if (chmod(opts.path.c_str(), opts.mode) != 0) return ErrnoStatus(errno, "chmod socket");
  if (opts.group != static_cast<gid_t>(-1) && chown(opts.path.c_str(), static_cast<uid_t>(-1), opts.group) != 0)
    return ErrnoStatus(errno, "chown socket");
  if (listen(s->listen_fd_.get(), 128) != 0) return ErrnoStatus(errno, "listen");

  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(64 * 1024);
  // As the governor (governance/src/server.cc): keep idle workers instead of
  // creating and unmapping a thread per call under concurrent workloads.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  for (auto* svc : services) builder.RegisterService(svc);
  s->server_ = builder.BuildAndStart();
  if (!s->server_) return absl::InternalError("gRPC server failed to start");
  s->wake_fd_.Reset(eventfd(0, EFD_CLOEXEC));
  if (!s->wake_fd_) return ErrnoStatus(errno, "eventfd");
  s->accept_thread_ = std::thread([p = s.get()] { p->AcceptLoop(); });
  return s;
}

void UnixGrpcServer::AcceptLoop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::Error("accept poll failed", {{"errno", std::to_string(errno)}});
      return;
    }
    if (fds[1].revents != 0 || stopping_) return;
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        log::Warn("accept failed", {{"errno", std::to_string(errno)}, {"socket", path_}});
      if (errno == EMFILE || errno == ENFILE) usleep(10'000);
      continue;
    }
    grpc::AddInsecureChannelFromFd(server_.get(), fd);  // gRPC owns fd from here
  }
}

void UnixGrpcServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  if (wake_fd_) (void)!write(wake_fd_.get(), &one, sizeof(one));
  if (accept_thread_.joinable()) accept_thread_.join();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  listen_fd_.Reset();
  unlink(path_.c_str());
}

UnixGrpcServer::~UnixGrpcServer() { Shutdown(); }

}  // namespace taogate::agent
