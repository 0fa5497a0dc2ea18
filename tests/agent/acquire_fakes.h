// Fakes for Acquire's dependencies (acquire.h, attest.h): a scripted
// governor and an attester that returns fixed facts. Thread-safe enough for
// the tests that use them (one call at a time, or counters only).
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "taogate/agent/acquire.h"

namespace taogate::agent::fakes {

class ScriptedGovernor : public GovernorClient {
 public:
  absl::StatusOr<v1::Decision> RequestAuthorization(const v1::AuthorizationRequest& req,
                                                    int64_t deadline_ms) override {
    std::lock_guard l(mu_);
    requests_.push_back(req);
    deadlines_.push_back(deadline_ms);
    return first_;
  }
  absl::StatusOr<v1::Decision> WaitDecision(const std::string& id, int64_t deadline_ms) override {
    waited_.fetch_add(1);
    return then_;
  }
  static v1::Decision Outcome(v1::Outcome o, std::string tao = "") {
    v1::Decision d;
    d.set_decision_id("d-1");
    d.set_outcome(o);
    d.set_tao(std::move(tao));
    return d;
  }
  absl::StatusOr<v1::Decision> first_ = absl::UnavailableError("unscripted");
  absl::StatusOr<v1::Decision> then_ = absl::UnavailableError("unscripted");
  std::mutex mu_;
  std::vector<v1::AuthorizationRequest> requests_;
  std::vector<int64_t> deadlines_;
  std::atomic<int> waited_{0};
};

class FixedAttester : public Attester {
 public:
  absl::StatusOr<Attestation> Attest(const PeerIdentity& peer, int) override {
    attested_.fetch_add(1);
    if (!fail_.ok()) return fail_;
    Attestation a;
    a.peer = peer;
    a.facts.set_node_id("node-a");
    a.facts.set_cgroup_id(peer.workload_cgroup_id);
    a.facts.set_cgroup_path(peer.workload_cgroup_path);
    a.facts.set_exe_path("/usr/bin/tool");
    a.facts.set_exe_sha256(std::string(64, 'a'));
    a.facts.set_uid(peer.uid);
    a.facts.set_pid(peer.pid);
    a.workload = "cgroup:" + peer.workload_cgroup_path;
    a.still_same = [this] { return same_; };
    return a;
  }
  absl::Status fail_ = absl::OkStatus();
  absl::Status same_ = absl::OkStatus();  // what still_same() answers
  std::atomic<int> attested_{0};
};

}  // namespace taogate::agent::fakes
