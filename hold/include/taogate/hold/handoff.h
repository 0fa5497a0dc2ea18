// Handing a hold listener fd to its supervisor over a unix stream socket
// (SCM_RIGHTS). One connection carries one fd:
//
//   client -> server   one message: a payload (at most kMaxPayload bytes) and
//                      exactly one fd in SCM_RIGHTS. taogatectl sends
//                      "taogate-hold/1\n"; runc/crun (OCI listenerPath) send
//                      their container process state (JSON) instead.
//   server -> client   one line: "ok\n" or "error: <why>\n", then close.
//
// The client must connect BEFORE it installs the filter (a connect after it
// would be held by the very supervisor it is trying to reach).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "taogate/common/fd.h"

namespace taogate::hold {

inline constexpr size_t kMaxPayload = 64 * 1024;
inline constexpr char kHandoffHello[] = "taogate-hold/1\n";

// Client: connects to `path` (before the filter exists).
absl::StatusOr<UniqueFd> ConnectSupervisor(const std::string& path);
// Client: sends `listener` on `sock` and waits for the answer.
absl::Status SendListener(int sock, int listener);

// Server: one message from `sock`: its payload and the fd it carried
// (InvalidArgument without exactly one fd).
struct Received {
  UniqueFd listener;
  std::string payload;
};
absl::StatusOr<Received> ReceiveListener(int sock);

// Server: a unix listening socket and an accept thread; each connection is
// passed to `accept` (on the accept thread: keep it short), its answer sent
// back, and the connection closed. The socket file is created with `mode`
// and unlinked by Stop.
class HandoffServer {
 public:
  using Accept = std::function<absl::Status(int conn, Received received)>;
  static absl::StatusOr<std::unique_ptr<HandoffServer>> Start(const std::string& path, mode_t mode,
                                                              Accept accept);
  ~HandoffServer();
  void Stop();
  const std::string& path() const { return path_; }

 private:
  HandoffServer() = default;
  void Loop();
  std::string path_;
  Accept accept_;
  UniqueFd listen_fd_, wake_fd_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace taogate::hold
