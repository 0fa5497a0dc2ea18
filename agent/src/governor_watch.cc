#include "taogate/agent/governor_watch.h"

#include <unistd.h>

#include <chrono>
#include <random>

#include <grpcpp/grpcpp.h>

#include "governor.grpc.pb.h"
#include "taogate/common/log.h"
#include "taogate/common/strings.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {

std::unique_ptr<GovernorWatch> GovernorWatch::Start(GovernorWatchOptions options, TargetSink& sync,
                                                    NodeControl& control) {
  std::unique_ptr<GovernorWatch> w(new GovernorWatch(std::move(options), sync, control));
  w->threads_[kTargets] = std::thread([p = w.get()] { p->Loop(kTargets); });
  w->threads_[kKill] = std::thread([p = w.get()] { p->Loop(kKill); });
  log::Info("governor watch started", {{"governor", w->options_.address}});
  return w;
}

GovernorWatch::GovernorWatch(GovernorWatchOptions options, TargetSink& sync, NodeControl& control)
    : options_(std::move(options)), sync_(sync), control_(control) {}

GovernorWatch::~GovernorWatch() { Stop(); }

void GovernorWatch::Stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
    for (auto* c : ctx_)
      if (c) c->TryCancel();
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void GovernorWatch::SetTls(rpc::ClientTls tls) {
  std::lock_guard l(mu_);
  options_.tls = std::move(tls);
  reconnect_now_[kTargets] = reconnect_now_[kKill] = true;
  for (auto* c : ctx_)
    if (c) c->TryCancel();
  cv_.notify_all();
}

rpc::ClientTls GovernorWatch::Tls() const {
  std::lock_guard l(mu_);
  return options_.tls;
}

bool GovernorWatch::stopping() const {
  std::lock_guard l(mu_);
  return stopping_;
}

GovernorWatchState GovernorWatch::state() const {
  std::lock_guard l(mu_);
  return state_;
}

void GovernorWatch::SetError(const std::string& e) {
  std::lock_guard l(mu_);
  state_.last_error = e;
}

void GovernorWatch::Loop(Stream s) {
  std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(s));
  int64_t backoff = options_.retry_initial_ms;
  while (true) {
    grpc::ClientContext ctx;
    {
      std::lock_guard l(mu_);
      if (stopping_) return;
      ctx_[s] = &ctx;
    }
    bool delivered = s == kTargets ? RunTargets(&ctx) : RunKill(&ctx);
    {
      std::unique_lock l(mu_);
      ctx_[s] = nullptr;
      (s == kTargets ? state_.targets_connected : state_.killswitch_connected) = false;
      ++state_.reconnects;
      if (stopping_) return;
      if (delivered) backoff = options_.retry_initial_ms;
      // +-25 % jitter so a fleet does not reconnect in lockstep.
      std::uniform_int_distribution<int64_t> jitter(-backoff / 4, backoff / 4);
      if (!std::exchange(reconnect_now_[s], false))  // not after SetTls: the governor is fine
        cv_.wait_for(l, std::chrono::milliseconds(backoff + jitter(rng)), [&] { return stopping_ || reconnect_now_[s]; });
      reconnect_now_[s] = false;
      if (stopping_) return;
      backoff = std::min(backoff * 2, options_.retry_max_ms);
    }
  }
}

bool GovernorWatch::RunTargets(grpc::ClientContext* ctx) {
  // A fresh channel per attempt: gRPC's own channel backoff (up to minutes)
  // must not delay a reconnect our backoff already decided on.
  auto stub = v1::Governor::NewStub(rpc::MakeGovernorChannel(options_.address, Tls()));
  v1::WatchProtectedTargetsRequest req;
  req.set_node_id(options_.node_id);
  auto reader = stub->WatchProtectedTargets(ctx, req);
  v1::ProtectedTargets msg;
  bool delivered = false;
  while (reader->Read(&msg)) {
    if (!delivered) {
      std::lock_guard l(mu_);
      state_.targets_connected = true;
      state_.last_error.clear();
      log::Info("governor protected-target stream connected", {{"governor", options_.address}});
    }
    delivered = true;
    (void)sync_.Apply(msg);  // logs, records and keeps the previous set on error
  }
  grpc::Status st = reader->Finish();
  std::string err = StrCat("protected-target stream: ", rpc::FromGrpc(st).ToString());
  ReportEnd(kTargets, delivered, err, "governor stream ended; keeping the last protected-target set");
  return delivered;
}

bool GovernorWatch::RunKill(grpc::ClientContext* ctx) {
  auto stub = v1::Governor::NewStub(rpc::MakeGovernorChannel(options_.address, Tls()));
  v1::WatchKillSwitchRequest req;
  req.set_node_id(options_.node_id);
  auto reader = stub->WatchKillSwitch(ctx, req);
  // The governor replays its whole history on connect. Applying it message
  // by message would briefly release (then re-engage) a kill switch whose
  // history is engage/release/engage, so what arrives within kHistoryMs of
  // the first message is collapsed to the last message per scope. A reader
  // thread feeds a queue so that window can be timed.
  constexpr auto kHistory = std::chrono::milliseconds(300);
  std::mutex qmu;
  std::condition_variable qcv;
  std::vector<v1::GovernorKillSwitchRequest> queue;
  bool done = false;
  std::thread feeder([&] {
    v1::GovernorKillSwitchRequest m;
    while (reader->Read(&m)) {
      std::lock_guard l(qmu);
      queue.push_back(m);
      qcv.notify_all();
    }
    std::lock_guard l(qmu);
    done = true;
    qcv.notify_all();
  });
  {
    std::lock_guard l(mu_);
    state_.killswitch_connected = true;  // the stream is silent until a kill switch exists
  }
  bool delivered = false, history = true;
  std::unique_lock l(qmu);
  while (true) {
    qcv.wait(l, [&] { return done || !queue.empty(); });
    if (queue.empty() && done) break;
    if (history) {
      qcv.wait_for(l, kHistory, [&] { return done; });
      history = false;
      std::map<std::string, v1::GovernorKillSwitchRequest> last;
      for (auto& m : queue) last[m.workload()] = std::move(m);
      queue.clear();
      l.unlock();
      if (!stopping()) {
        for (const auto& [scope, m] : last) OnKillSwitch(m);
      }
      l.lock();
    } else {
      std::vector<v1::GovernorKillSwitchRequest> batch;
      batch.swap(queue);
      l.unlock();
      if (!stopping()) {
        for (const auto& m : batch) OnKillSwitch(m);
      }
      l.lock();
    }
    delivered = true;
  }
  l.unlock();
  feeder.join();
  grpc::Status st = reader->Finish();
  std::string err = StrCat("kill-switch stream: ", rpc::FromGrpc(st).ToString());
  ReportEnd(kKill, delivered, err, "governor stream ended; kill-switch state unchanged");
  return delivered;
}

void GovernorWatch::ReportEnd(Stream s, bool delivered, const std::string& err, const char* what) {
  std::lock_guard l(mu_);
  if (stopping_) return;
  // One warning per distinct error in a row: a governor that stays down does
  // not flood the log at every retry.
  if (delivered || err != last_logged_[s]) log::Warn(what, {{"error", err}});
  last_logged_[s] = err;
  state_.last_error = err;
}

void GovernorWatch::OnKillSwitch(const v1::GovernorKillSwitchRequest& m) {
  if (!m.node_id().empty() && m.node_id() != options_.node_id) return;
  const std::string scope = m.workload().empty() ? "all" : m.workload();
  std::lock_guard l(kill_mu_);
  auto it = kill_state_.find(scope);
  bool engaged = it != kill_state_.end() && it->second;
  if (m.engage() == engaged) return;  // a replay, or a release of something we did not engage
  v1::KillSwitchRequest req;
  req.set_action(m.engage() ? v1::KILL_SWITCH_ENGAGE : v1::KILL_SWITCH_RELEASE);
  if (m.workload().empty()) {
    req.set_all(true);
  } else {
    req.set_workload(m.workload());
  }
  req.set_mode(v1::KILL_SWITCH_MODE_DENY);
  req.set_reason(StrCat("governor #", m.sequence(), ": ", m.reason()));
  PeerIdentity self;
  self.pid = getpid();
  self.uid = getuid();
  auto r = control_.KillSwitch(req, self);
  if (!r.ok()) {
    std::string e = StrCat("governor kill switch #", m.sequence(), " (", scope, "): ", r.status().message());
    log::Error("governor kill switch not applied", {{"error", e}});
    SetError(e);
    return;
  }
  kill_state_[scope] = m.engage();
  std::lock_guard l2(mu_);
  ++state_.killswitch_applied;
}

void GovernedNodeControl::FillStatus(v1::StatusResponse* out) {
  inner_.FillStatus(out);
  TargetSyncState t = sync_.state();
  out->set_policy_sha256(t.have_bundle ? t.policy_sha256 : "");
}

std::string GovernorMetricsText(const GovernorWatchState& w, const TargetSyncState& t) {
  using runtime::Counter;
  using runtime::Gauge;
  return StrCat(runtime::Family("taogate_agent_governor_connected", "gauge",
                                "1 while the governor stream is connected, by stream."),
                "taogate_agent_governor_connected{stream=\"targets\"} ", w.targets_connected ? 1 : 0, "\n",
                "taogate_agent_governor_connected{stream=\"killswitch\"} ", w.killswitch_connected ? 1 : 0, "\n",
                Counter("taogate_agent_governor_stream_ends_total", "Governor streams that ended (then retried).",
                        w.reconnects),
                Counter("taogate_agent_governor_killswitch_applied_total", "Kill-switch states applied from the governor.",
                        w.killswitch_applied),
                Gauge("taogate_agent_protected_targets", "Entries of the protected-target set in force.",
                      static_cast<int64_t>(t.targets)),
                Gauge("taogate_agent_protected_targets_not_enforced", "FILE/EXEC targets without an enforcer.",
                      static_cast<int64_t>(t.not_enforced)),
                Gauge("taogate_agent_targets_fail_closed", "1 while the fail-closed catch-all is in force.",
                      t.fail_closed ? 1 : 0),
                Counter("taogate_agent_targets_applied_total", "Protected-target sets applied.", t.applied_total),
                Counter("taogate_agent_targets_rejected_total", "Protected-target sets refused.", t.rejected_total),
                Counter("taogate_agent_targets_names_unresolved_total",
                        "Protected-target sets refused for naming DNS hosts while this agent has no DNS "
                        "resolver (dns.enabled false or no usable server).",
                        t.names_unresolved_total));
}

}  // namespace taogate::agent
