// Acquire and Authorize on the workload socket (agent.proto): the agent asks
// the governor for the caller, over its own node identity, with the facts it
// attested (attest.h), follows a pending approval, and (Acquire) redeems the
// TAO itself through the Redeemer, exactly as Redeem does.
//
// Order of one call (never changes):
//   rate limit per workload cgroup (token bucket + calls in flight)
//   -> attestation -> request validation -> ATTESTED
//   -> RequestAuthorization (attested set) -> PENDING_APPROVAL, WatchDecision
//      until final or the deadline
//   -> Authorize: AUTHORIZED with the TAO
//   -> Acquire: the attested process re-checked (alive, same executable)
//      -> Redeemer::Redeem (same checks, CONSUMED record, grant) -> GRANTED
// Every failure ends the stream with REFUSED and a stable reason code
// (reason:: below, or the Redeemer's own codes); nothing is granted then.
// Deadline: min(timeout_ms or max_wait_ms, max_wait_ms) from the call.
// Nothing from the request selects who the caller is: the request carries
// only the target, the action class, the reason and annotations
// (validated, bounded, never sent as selectors).
//
// Thread-safe: Run from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "agent.pb.h"
#include "governor.pb.h"
#include "taogate/agent/attest.h"
#include "taogate/agent/redeem.h"
#include "taogate/common/clock.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {

namespace reason {
inline constexpr char kDenied[] = "DENIED";
inline constexpr char kRejected[] = "REJECTED";
inline constexpr char kTimeout[] = "TIMEOUT";
inline constexpr char kUnavailable[] = "UNAVAILABLE";
inline constexpr char kInvalid[] = "INVALID";
inline constexpr char kNotAttested[] = "NOT_ATTESTED";
inline constexpr char kPeerChanged[] = "PEER_CHANGED";
// kExpired and kRateLimited: redeem.h (same spelling).
}  // namespace reason

// The governor as Acquire sees it (GrpcGovernorClient in production, over
// the agent's node mTLS channel). deadline_ms is wall-clock unix ms.
class GovernorClient {
 public:
  virtual ~GovernorClient() = default;
  virtual absl::StatusOr<v1::Decision> RequestAuthorization(const v1::AuthorizationRequest& req,
                                                            int64_t deadline_ms) = 0;
  // Follows decision `id` until it is no longer pending or the deadline
  // passes; returns the last decision seen (still pending at the deadline),
  // or the error of the stream.
  virtual absl::StatusOr<v1::Decision> WaitDecision(const std::string& id, int64_t deadline_ms) = 0;
};

struct AcquireOptions {
  int64_t max_wait_ms = 300'000;   // deadline cap (and the default)
  uint32_t rate_per_s = 10;        // Acquire/Authorize calls per workload...
  uint32_t burst = 20;             // ...after a burst of this many
  uint32_t max_in_flight = 4;      // concurrent calls per workload
  size_t max_workloads = 4096;     // memory bound of the per-workload state
  size_t max_annotations = 16;
  size_t max_annotation_bytes = 256;  // per key and per value
};

class Acquirer {
 public:
  // `governor` may be null (no governor configured: every call UNAVAILABLE).
  // All references must outlive the Acquirer.
  Acquirer(AcquireOptions options, GovernorClient* governor, Attester& attester, Redeemer& redeemer,
           const Clock& clock = RealClock());

  // Sends progress through `emit` (false: the caller is gone; stop). The
  // last message is GRANTED/AUTHORIZED or REFUSED. `redeem` false: Authorize.
  using Emit = std::function<bool(const v1::AcquireProgress&)>;
  void Run(const v1::AcquireRequest& req, const PeerIdentity& peer, int socket_fd, bool redeem,
           const Emit& emit);

  // Calls by how they ended: "GRANTED", "AUTHORIZED" or the reason code.
  std::map<std::string, uint64_t> outcomes() const;
  // taogate_agent_acquire_seconds{outcome="granted|authorized|refused"}: a
  // call's time from arrival to its last message (approval waits included),
  // with HELP and TYPE.
  std::string LatencyText() const;

  // The request's own checks (target, action class, reason, annotations).
  absl::Status Validate(const v1::AcquireRequest& req, v1::Target* target) const;

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
    uint32_t in_flight = 0;
  };
  bool Admit(uint64_t workload);  // takes a token and an in-flight slot
  void Done(uint64_t workload);
  // A final decision (or the governor's error) -> the last message.
  v1::AcquireProgress Final(const absl::StatusOr<v1::Decision>& d, const Attestation& a, bool redeem);

  const AcquireOptions options_;
  GovernorClient* governor_;
  Attester& attester_;
  Redeemer& redeemer_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<uint64_t, Bucket> buckets_;  // by workload cgroup id; guarded by mu_
  std::map<std::string, uint64_t> outcomes_;  // guarded by mu_
  std::array<runtime::Histogram, 3> latency_;   // granted, authorized, refused
};

// Stable reason code of a governor call's error status.
const char* GovernorErrorCode(const absl::Status& st);

}  // namespace taogate::agent
