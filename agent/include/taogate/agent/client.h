// Client of the agent's unix-socket gRPC API (taogate::agent_api), for
// taogatectl, workloads, tests and benchmarks. A refused call returns the
// gRPC status as absl::Status (same code; message starts with the reason
// code, e.g. "REPLAY: ..."); reason_code() gives the trailing
// "taogate-reason" of the last failed Redeem.
//
// Thread-safe (one channel, any number of concurrent calls), except
// last_reason(), which reflects whichever call failed last.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "agent.grpc.pb.h"

namespace taogate::agent {

class AgentClient {
 public:
  // Does not connect yet; calls fail with Unavailable if nobody listens.
  static std::unique_ptr<AgentClient> ForSocket(const std::string& path, int timeout_ms = 10'000);

  // `reason` (optional) receives the refusal's reason code.
  absl::StatusOr<v1::RedeemResponse> Redeem(const std::string& tao_wire, std::string* reason = nullptr);
  // Acquire (authorize_only false) or Authorize: `on_progress` sees every
  // message as it arrives; returns the last one (GRANTED, AUTHORIZED or
  // REFUSED), or the call's error. The call may last timeout_ms of the
  // request plus the client's own timeout.
  absl::StatusOr<v1::AcquireProgress> Acquire(
      const v1::AcquireRequest& req, bool authorize_only,
      const std::function<void(const v1::AcquireProgress&)>& on_progress = nullptr);
  // Recent denials (newest first): the caller's own on the workload socket.
  absl::StatusOr<v1::WhyResponse> Why(const v1::WhyRequest& req);
  absl::StatusOr<v1::StatusResponse> Status();
  absl::StatusOr<v1::ProbeResponse> Probe();
  absl::StatusOr<v1::KillSwitchResponse> KillSwitch(const v1::KillSwitchRequest& req);
  absl::StatusOr<v1::LedgerTailResponse> LedgerTail(uint32_t count);
  // Records from_seq.. (at most max_records, server-capped at 1000) and the size.
  absl::StatusOr<v1::LedgerTailResponse> LedgerRead(uint64_t from_seq, uint32_t max_records);
  absl::StatusOr<v1::LedgerProofResponse> LedgerProof(uint64_t seq, uint64_t tree_size);

 private:
  AgentClient() = default;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Agent::Stub> stub_;
  int timeout_ms_ = 10'000;
};

}  // namespace taogate::agent
