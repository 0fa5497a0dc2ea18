// The bearer token, re-read from its file when it may have rotated.
// Projected ServiceAccount tokens are rewritten by kubelet well before they
// expire; the file is re-read at most `reread` after the last read (client-go
// uses one minute) and at the next Get() after Invalidate() (called on a 401).
// Thread-safe.
#pragma once

#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace taogate::k8s {

class TokenSource {
 public:
  // `file` empty: the fixed `token` (possibly empty: no bearer auth).
  TokenSource(std::string file, std::string token, absl::Duration reread);

  // The current token. Errors only if the file cannot be read and no token was
  // ever read from it (a transient read error keeps the last good token).
  absl::StatusOr<std::string> Get();
  // The server refused the token: read the file again at the next Get().
  void Invalidate();
  // How many times the file has been read (for tests and metrics).
  int reads() const;

 private:
  const std::string file_;
  const absl::Duration reread_;
  mutable std::mutex mu_;
  std::string token_;
  absl::Time read_at_ = absl::InfinitePast();
  bool stale_ = true;
  int reads_ = 0;
};

}  // namespace taogate::k8s
