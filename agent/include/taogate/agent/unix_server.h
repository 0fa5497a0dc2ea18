// A gRPC server on a unix socket whose connections we accept ourselves, so
// each call can be tied to its peer: accepted fds are handed to gRPC with
// AddInsecureChannelFromFd, which names the connection "fd:N", and handlers
// resolve the peer from that fd (PeerOfSocket) at call time.
//
// Owns the listening socket and the accept thread; Shutdown (or the
// destructor) stops accepting, shuts the gRPC server down and unlinks the
// socket path.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "taogate/common/fd.h"

namespace taogate::agent {

struct UnixServerOptions {
  std::string path;      // socket path; its directory is created (0755) if missing
  mode_t mode = 0600;    // socket file mode
  gid_t group = static_cast<gid_t>(-1);  // chown group, or -1 to leave
};

class UnixGrpcServer {
 public:
  static absl::StatusOr<std::unique_ptr<UnixGrpcServer>> Start(
      const UnixServerOptions& opts, std::vector<grpc::Service*> services);
  ~UnixGrpcServer();
  void Shutdown();
  const std::string& path() const { return path_; }

 private:
  UnixGrpcServer() = default;
  void AcceptLoop();

  std::string path_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd that interrupts AcceptLoop
  std::unique_ptr<grpc::Server> server_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace taogate::agent
