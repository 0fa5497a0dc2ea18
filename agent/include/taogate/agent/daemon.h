// The assembled node agent: what taogate-agent runs.
//
// Start order (each step fails the start, closed):
//   1. node ledger (group commit; checkpoint key if configured)
//   2. trust bundle (strict mode refuses software roots)
//   3. governed cgroup root (created if missing) and the kernel gate
//      (OpenOrAdopt: pinned maps, grants and quarantine are re-adopted)
//   4. static protected targets into the gate's maps
//   4b. files, exec, self-protection: enforce::Enforcer (BPF LSM where it
//       loads, else the gate's kill-on-syscall fallback) and the config rules
//   4c. node addresses dumped (rtnetlink) and node targets expanded; with a
//       governor: the cached protected-target set, or the fail-closed
//       catch-all (the streams start in step 6 and never delay the start);
//       the address watcher starts; then the new LSM programs replace the
//       previous agent's pins
//   5. consumed-index rebuild from CONSUMED records (restart safety)
//   6. STARTED record, ring-buffer consumer, sockets, metrics
//   7. reload: the trust bundle and governor mTLS files watched (reload.h)
// Stop order is the reverse; Stop never detaches the gate, so enforcement
// (default deny, quarantine) stays in force while no agent runs.
//
// Thread safety: Start/Stop from one thread; everything else is internal.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/agent/config.h"

namespace taogate::agent {

class AgentDaemon {
 public:
  static absl::StatusOr<std::unique_ptr<AgentDaemon>> Start(AgentConfig config);
  ~AgentDaemon();  // Stop()
  void Stop();
  int metrics_port() const;
  // SIGHUP: re-reads the trust bundle and governor mTLS files (reload.h).
  absl::Status Reload(std::string_view trigger);

 private:
  struct Parts;
  AgentDaemon() = default;
  absl::Status Init(AgentConfig config);
  std::unique_ptr<Parts> p_;
};

}  // namespace taogate::agent
