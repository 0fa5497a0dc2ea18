// Fakes for the kernel-facing interfaces (kernel_deps.h): a decision source
// fed from a queue, a kill-switch gate that logs every call, an enforcement
// table and a target sink. Each records what it was asked into `calls`, in
// order, so a test can assert that the gate was written before the ledger
// (or after). Thread-safe: EventConsumer polls from its own thread.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "taogate/agent/kernel_deps.h"
#include "taogate/common/strings.h"

namespace taogate::agent::fakes {

// An ordered log shared by fakes (and the evidence wrapper below).
struct CallLog {
  void Add(std::string s) {
    std::lock_guard l(mu);
    calls.push_back(std::move(s));
  }
  std::vector<std::string> Get() {
    std::lock_guard l(mu);
    return calls;
  }
  std::mutex mu;
  std::vector<std::string> calls;
};

class QueueDecisionSource : public DecisionSource {
 public:
  void Push(bpf::DecisionEvent e) {
    std::lock_guard l(mu_);
    events_.push_back(std::move(e));
  }
  absl::StatusOr<int> PollEvents(int timeout_ms,
                                 const std::function<void(const bpf::DecisionEvent&)>& fn) override {
    std::deque<bpf::DecisionEvent> batch;
    {
      std::lock_guard l(mu_);
      batch.swap(events_);
    }
    for (const auto& e : batch) fn(e);
    if (batch.empty() && timeout_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return static_cast<int>(batch.size());
  }
  absl::StatusOr<size_t> SweepExpiredGrants() override {
    std::lock_guard l(mu_);
    ++sweeps_;
    return 0;
  }
  int sweeps() {
    std::lock_guard l(mu_);
    return sweeps_;
  }

 private:
  std::mutex mu_;
  std::deque<bpf::DecisionEvent> events_;
  int sweeps_ = 0;
};

class LoggingKillSwitchGate : public KillSwitchGate {
 public:
  explicit LoggingKillSwitchGate(CallLog& log) : log_(log) {}
  bpf::ProbeReport Probe() const override { return probe_; }
  absl::Status Quarantine(uint64_t id, bpf::QuarantineMode m) override {
    return Do(StrCat("quarantine ", id, " ", static_cast<uint32_t>(m)));
  }
  absl::Status QuarantineAll(bpf::QuarantineMode m) override {
    return Do(StrCat("quarantine_all ", static_cast<uint32_t>(m)));
  }
  absl::Status Release(uint64_t id) override { return Do(StrCat("release ", id)); }
  absl::Status ReleaseAll() override { return Do("release_all"); }
  absl::StatusOr<uint64_t> QuarantinedCount() const override { return quarantined_; }
  absl::StatusOr<bool> QuarantineAllEngaged() const override { return all_engaged_; }

  bpf::ProbeReport probe_;
  uint64_t quarantined_ = 0;
  bool all_engaged_ = false;
  bool fail_ = false;

 private:
  absl::Status Do(std::string what) {
    if (fail_) return absl::UnavailableError("map update failed");
    log_.Add("gate: " + what);
    return absl::OkStatus();
  }
  CallLog& log_;
};

class FixedEnforcement : public Enforcement {
 public:
  std::vector<enforce::Capability> Capabilities() const override { return caps_; }
  absl::StatusOr<int> PollLsmEvents(int, const std::function<void(const enforce::LsmDenial&)>& fn) override {
    std::vector<enforce::LsmDenial> batch;
    {
      std::lock_guard l(mu_);
      batch.swap(denials_);
    }
    for (const auto& d : batch) fn(d);
    return static_cast<int>(batch.size());
  }
  void Push(enforce::LsmDenial d) {
    std::lock_guard l(mu_);
    denials_.push_back(std::move(d));
  }
  std::vector<enforce::Capability> caps_;

 private:
  std::mutex mu_;
  std::vector<enforce::LsmDenial> denials_;
};

class MemoryTargetSink : public TargetSink {
 public:
  absl::Status Apply(const v1::ProtectedTargets& msg) override {
    applied_.push_back(msg);
    return absl::OkStatus();
  }
  TargetSyncState state() const override { return state_; }
  std::vector<v1::ProtectedTargets> applied_;
  TargetSyncState state_;
};

}  // namespace taogate::agent::fakes
