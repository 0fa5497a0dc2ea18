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
//   the caller is not in a governed workload    -> CONTINUE (the gate does not govern it;
//                                                  pods mode: a pod, one the bundle governs)
//   the destination is not protected            -> CONTINUE at once
//   on a worker thread: the held process is attested from the kernel (like
//   a workload-socket caller, pinned by a pidfd taken before the
//   notification was validated); not attested -> EACCES
//   no hold rule of the bundle matches it and the destination (hold_rules.h)
//                                               -> CONTINUE: not held, the gate
//                                                  refuses it as without hold mode
//   otherwise Acquire for the rule's action class, bounded by the rule's
//   max hold (reason: exe, command line, target; annotations from its
//   TAOGATE_ANNOTATIONS=k=v,k=v environment):
//     GRANTED -> CONTINUE: the kernel runs the real connect and the gate,
//                which re-reads the real sockaddr, lets exactly that connect
//                through and consumes the grant
//     REFUSED TIMEOUT -> ETIMEDOUT; any other refusal -> EACCES
//   hold_max_ms (the node's ceiling) without an answer -> ETIMEDOUT (the
//   supervisor's clock).
// Every held call that reached a rule (or failed attestation) ends in one
// HOLD record in the node ledger: workload, pid, exe, target, rule, action
// class, decision id, how the Acquire ended, the errno answered and how
// long it was held.
// Holds Acquire through their own Acquirer (own rate limits and outcome
// counts, same governor, same Redeemer).
//
// Thread-safe. Stop before the Acquirer's governor client and Redeemer go.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/agent/acquire.h"
#include "taogate/agent/attest.h"
#include "taogate/agent/deps.h"
#include "taogate/hold/handoff.h"
#include "taogate/hold/supervisor.h"
#include "taogate/target/target.h"

namespace taogate::agent {

struct HoldServiceOptions {
  std::string socket_path;
  int64_t max_hold_ms = 30'000;  // the node's ceiling over every rule's max hold
  std::string governed_root;     // cgroup path, e.g. /taogate (pods mode: the kubepods root)
  std::string cgroup2_mount;
  // Pods mode: workloads are pods (peer.h ResolveWorkload), and a pod whose
  // workload cgroup id pod_governed() says is ungoverned is not held.
  std::optional<k8s::KubepodsRoot> pods_root;
  std::function<bool(uint64_t)> pod_governed;
  AcquireOptions acquire;  // Acquire's limits for holds, but:
  // max_in_flight is raised to at least this (each held thread is one call
  // in flight: 16 threads of a pool must not be RATE_LIMITED for waiting).
  uint32_t hold_in_flight = 64;
  std::function<bool(const target::Target&)> is_protected;  // the gate's view
  // The applied bundle's hold rules and the target ids covering a
  // destination (TargetSync::HoldRules / TargetIdsAt).
  std::function<std::vector<v1::HoldRule>()> rules;
  std::function<std::set<std::string>(const target::Target&)> target_ids;
  Evidence* evidence = nullptr;  // HOLD records; must outlive the service
};

// One call held now, for `agent status`.
struct HeldCall {
  std::string workload, target, rule, decision_id, exe;
  int32_t pid = 0;
  int64_t since_unix_ms = 0;
};

class HoldService {
 public:
  // `governor` may be null (every protected hold then fails: EACCES).
  static absl::StatusOr<std::unique_ptr<HoldService>> Start(HoldServiceOptions options, GovernorClient* governor,
                                                            Attester& attester, Redeemer& redeemer);
  ~HoldService();
  void Stop();  // no new hand-offs, held calls fail, waits for the Acquire workers
  hold::SupervisorStats stats() const { return supervisor_->stats(); }
  uint64_t not_held() const { return not_held_.load(); }
  std::vector<HeldCall> Held() const;
  const HoldServiceOptions& options() const { return options_; }
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
  std::atomic<uint64_t> not_held_{0};  // reached a worker, matched no rule
  mutable std::mutex mu_;
  std::condition_variable idle_;
  int workers_ = 0;                      // guarded by mu_
  uint64_t next_id_ = 0;                 // guarded by mu_
  std::map<uint64_t, HeldCall> held_;    // guarded by mu_
};

std::map<std::string, std::string> ParseAnnotations(const std::string& text);

}  // namespace taogate::agent
