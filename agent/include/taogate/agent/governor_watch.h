// GovernorWatch: the node agent's two long-lived streams from the governor
// (mTLS, our client certificate names us):
//   WatchProtectedTargets -> TargetSink::Apply (TargetSync in production:
//                            validate, diff into the gate, cache,
//                            POLICY_ACTIVATED record)
//   WatchKillSwitch       -> NodeControl::KillSwitch, the operator's path
//                            (gate first, KILLSWITCH record)
//
// One thread per stream. Each (re)connects on a fresh channel with capped
// exponential backoff (retry_initial_ms doubling up to retry_max_ms, +-25 %
// jitter), reset after a stream that delivered a message. Start() never
// waits for the governor: enforcement starts from the cache (TargetSync)
// whether or not the governor is reachable. A disconnect changes nothing in
// the kernel: the last set stays, and a kill switch stays engaged.
//
// Kill switch messages: the governor replays its whole history on every
// connect; what arrives within 300 ms of a stream's first message is
// collapsed to the last message per scope (so an engage/release/engage
// history never releases, even briefly), and the watch remembers, per scope ("all" or a workload name), the
// last state it applied and only acts on a change, so replays neither repeat
// ledger records nor release what is engaged. A release is only applied for a
// scope this watch engaged (an operator's local kill switch is never released
// by a governor message it did not correspond to). The governor's message
// carries no actor; the KILLSWITCH record's reason says
// "governor #<sequence>: <reason>" and its pid is the agent's own.
// A governor workload name is the workload cgroup name below the governed
// root (as with `taogatectl agent killswitch --workload`).
//
// Thread safety: Start/Stop from one thread; state() from any thread.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/agent/kernel_deps.h"
#include "taogate/agent/service.h"
#include "taogate/rpc/client.h"

namespace grpc {
class ClientContext;
}

namespace taogate::agent {

struct GovernorWatchOptions {
  std::string address;  // "host:port"
  rpc::ClientTls tls;
  std::string node_id;
  int64_t retry_initial_ms = 200;
  int64_t retry_max_ms = 30'000;
};

struct GovernorWatchState {
  bool targets_connected = false;     // a targets message arrived on the current stream
  bool killswitch_connected = false;
  uint64_t reconnects = 0;            // streams that ended (either kind)
  uint64_t killswitch_applied = 0;    // governor kill-switch changes applied
  std::string last_error;
};

class GovernorWatch {
 public:
  // sync and control must outlive the watch. Starts both threads and returns.
  static std::unique_ptr<GovernorWatch> Start(GovernorWatchOptions options, TargetSink& sync,
                                              NodeControl& control);
  ~GovernorWatch();  // Stop()
  // Cancels both streams and joins the threads. Idempotent.
  void Stop();
  GovernorWatchState state() const;
  // A certificate reload: both streams end and reconnect (at once) with `tls`,
  // keeping the last applied targets and kill-switch state meanwhile.
  void SetTls(rpc::ClientTls tls);

  // Applies one kill-switch message (exposed for the stream thread and tests).
  void OnKillSwitch(const v1::GovernorKillSwitchRequest& m);

 private:
  enum Stream { kTargets = 0, kKill = 1 };
  GovernorWatch(GovernorWatchOptions options, TargetSink& sync, NodeControl& control);
  void Loop(Stream s);
  bool RunTargets(grpc::ClientContext* ctx);  // true if a message arrived
  bool RunKill(grpc::ClientContext* ctx);
  void SetError(const std::string& e);
  bool stopping() const;
  void ReportEnd(Stream s, bool delivered, const std::string& err, const char* what);

  rpc::ClientTls Tls() const;
  GovernorWatchOptions options_;  // options_.tls guarded by mu_
  TargetSink& sync_;
  NodeControl& control_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* ctx_[2] = {nullptr, nullptr};
  bool reconnect_now_[2] = {false, false};  // SetTls: skip one backoff
  GovernorWatchState state_;
  std::string last_logged_[2];  // last stream-end error logged, per stream
  std::mutex kill_mu_;
  std::map<std::string, bool> kill_state_;  // scope -> engaged by us
  std::thread threads_[2];
};

// The NodeControl the agent's sockets serve when a governor is configured:
// everything delegates to `inner`, except that Status reports the governor's
// policy_sha256 of the protected-target set in force ("" while failing
// closed with nothing applied).
class GovernedNodeControl final : public NodeControl {
 public:
  GovernedNodeControl(NodeControl& inner, TargetSink& sync) : inner_(inner), sync_(sync) {}
  void FillStatus(v1::StatusResponse* out) override;
  void FillProbe(v1::ProbeResponse* out) override { inner_.FillProbe(out); }
  absl::StatusOr<v1::KillSwitchResponse> KillSwitch(const v1::KillSwitchRequest& req,
                                                   const PeerIdentity& who) override {
    return inner_.KillSwitch(req, who);
  }
  absl::StatusOr<v1::LedgerTailResponse> LedgerTail(uint32_t count) override { return inner_.LedgerTail(count); }
  absl::StatusOr<v1::LedgerTailResponse> LedgerRead(uint64_t from_seq, uint32_t max) override {
    return inner_.LedgerRead(from_seq, max);
  }
  absl::StatusOr<v1::LedgerProofResponse> LedgerProof(uint64_t seq, uint64_t tree_size) override {
    return inner_.LedgerProof(seq, tree_size);
  }

 private:
  NodeControl& inner_;
  TargetSink& sync_;
};

// Prometheus text for the watch and the target set (appended to /metrics).
std::string GovernorMetricsText(const GovernorWatchState& w, const TargetSyncState& t);

}  // namespace taogate::agent
