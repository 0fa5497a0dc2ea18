// Development and test helper: one swtpm (software TPM 2.0) process with its
// state in a directory, serving a unix socket. Used by tests/keys, bench/keys
// and `taogatectl keys swtpm`-style development setups; never by production
// code paths. The process is a direct child (no -d), killed on destruction.
//
// Thread safety: none; one owner.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace taogate::keys {

class Swtpm {
 public:
  // Runs swtpm_setup in `state_dir` if it holds no TPM state yet, then
  // starts swtpm and waits until its socket accepts connections.
  static absl::StatusOr<std::unique_ptr<Swtpm>> Start(const std::string& state_dir);
  ~Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  // "swtpm:path=<state_dir>/tpm.sock"
  std::string tcti() const;
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // SIGKILL (a TPM that dies mid-run) and reap.
  void Kill();
  // SIGTERM and reap.
  void Stop();
  // Starts again on the same state (persistent objects survive).
  absl::Status Restart();

 private:
  explicit Swtpm(std::string dir) : dir_(std::move(dir)) {}
  absl::Status Launch();
  void Signal(int sig);
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace taogate::keys
