// Hold mode on the agent (issue 17, docs/hold.md): the supervisor of the
// seccomp listeners governed workloads hand over (taogatectl run --hold, or
// an OCI runtime's listenerPath), which runs Acquire on a held workload's
// behalf and lets the syscall continue once the TAO is redeemed.
//
// The hand-off socket (config hold_socket, 0666; a socket of its own because
// the workload socket speaks gRPC, which carries no fds): one listener fd per
// connection (hold/handoff.h). Accepted from a peer (SO_PEERCRED) in a
// governed workload cgroup, or from root with an OCI state payload (runc
// and crun send the fd from outside the container). A listener can only ever
// make its own processes wait or fail, never pass: every notification is
// checked on its own, below.
//
// One held call (the order never changes):
//   no destination the gate could protect       -> CONTINUE at once
//   the caller is not in a governed workload    -> CONTINUE (the gate does not govern it)
//   the destination is not protected            -> CONTINUE at once
//   otherwise, on a worker thread, Acquire for the held process (attested
//   from the kernel like a workload-socket caller, pinned by a pidfd taken
//   before the notification was validated; reason: exe, command line,
//   target; annotations from its TAOGATE_ANNOTATIONS=k=v,k=v environment):
//     GRANTED -> CONTINUE: the kernel runs the real connect and the gate,
//                which re-reads the real sockaddr, lets exactly that connect
//                through and consumes the grant
//     REFUSED TIMEOUT -> ETIMEDOUT; any other refusal -> EACCES
//   hold_max_ms without an answer -> ETIMEDOUT (the supervisor's clock).
// Holds Acquire through their own Acquirer (own rate limits and outcome
// counts, same governor, same Redeemer).
//
// Thread-safe. Stop before the Acquirer's governor client and Redeemer go.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/agent/acquire.h"
#include "taogate/agent/attest.h"
#include "taogate/hold/handoff.h"
#include "taogate/hold/supervisor.h"
#include "taogate/target/target.h"

namespace taogate::agent {

struct HoldServiceOptions {
  std::string socket_path;
  int64_t max_hold_ms = 30'000;
  std::string action_class = "connect";
  std::string governed_root;  // cgroup path, e.g. /taogate
  std::string cgroup2_mount;
  AcquireOptions acquire;  // Acquire's limits for holds, but:
  std::function<bool(const target::Target&)> is_protected;  // the gate's view
  // max_in_flight is raised to at least this (each held thread is one call
  // in flight: 16 threads of a pool must not be RATE_LIMITED for waiting).
  uint32_t hold_in_flight = 64;
};

class HoldService {
 public:
  // `governor` may be null (every protected hold then fails: EACCES).
  static absl::StatusOr<std::unique_ptr<HoldService>> Start(HoldServiceOptions options, GovernorClient* governor,
                                                            Attester& attester, Redeemer& redeemer);
  ~HoldService();
  void Stop();  // no new hand-offs, held calls fail, waits for the Acquire workers
  hold::SupervisorStats stats() const { return supervisor_->stats(); }
  // taogate_agent_holds* families for /metrics.
  std::string MetricsText() const;

  struct PidAttester;  // hold.cc

 private:
  HoldService() = default;
  absl::Status Accept(int conn, hold::Received received);
  void Decide(const hold::Held& held, hold::Supervisor::Answer answer);
  void Work(hold::Held held, PeerIdentity peer, hold::Supervisor::Answer answer);

  HoldServiceOptions options_;
  std::unique_ptr<PidAttester> attester_;
  std::unique_ptr<Acquirer> acquirer_;
  std::unique_ptr<hold::Supervisor> supervisor_;
  std::unique_ptr<hold::HandoffServer> server_;
  std::mutex mu_;
  std::condition_variable idle_;
  int workers_ = 0;  // guarded by mu_
};

// "k=v,k2=v2" (TAOGATE_ANNOTATIONS) -> annotations; malformed pairs dropped.
std::map<std::string, std::string> ParseAnnotations(const std::string& text);

}  // namespace taogate::agent
