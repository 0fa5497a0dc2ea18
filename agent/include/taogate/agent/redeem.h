// The redeem decision: verify a TAO presented by a workload, consume it
// exactly once, record it durably, then install the kernel grant.
//
// Order (never changes): decode -> chain + signature -> time window -> node
// -> cgroup binding -> protected target -> replay check and claim ->
// CONSUMED appended durably -> grant installed. A TAO is claimed in memory
// before the ledger append and stays claimed if anything after that fails,
// so every error after the claim fails closed (the TAO is spent, no grant).
// After a restart the claim set is rebuilt from CONSUMED records
// (RestoreConsumed), so a TAO consumed before a crash stays consumed.
//
// Refusals cost bounded records and CPU (refusal_recorder.h): a caller that
// has spent its refused-redeem budget is refused first of all (RATE_LIMITED,
// nothing decoded or verified), and each refusal goes through the
// RefusalRecorder (first of each (caller, reason) recorded at once, repeats
// summarized). Before the claim the evidence is asked whether a CONSUMED
// record has room (Evidence::CheckRoom); if not, the redeem fails with
// UNAVAILABLE (LEDGER_UNAVAILABLE) and the TAO is not spent.
//
// Thread-safe: any number of concurrent Redeem calls.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "taogate/common/clock.h"
#include "taogate/agent/deps.h"
#include "taogate/agent/peer.h"
#include "taogate/agent/refusal_recorder.h"

namespace taogate::agent {

struct RedeemConfig {
  std::string node_id;
  std::string governed_root = "/taogate";  // cgroup path of the governed subtree
  std::string cgroup2_mount;               // to compute ancestor cgroup ids
  int64_t max_clock_skew_ms = 2'000;
  int64_t max_grant_ms = 60'000;           // a grant never outlives this, nor the TAO
  RefusalOptions refusals = {};            // records and CPU a refusal may cost
};

// Reason codes: stable strings used in ledger records, gRPC messages and metrics.
namespace reason {
inline constexpr char kMalformed[] = "MALFORMED";
inline constexpr char kBadSignature[] = "BAD_SIGNATURE";
inline constexpr char kExpired[] = "EXPIRED";
inline constexpr char kNotYetValid[] = "NOT_YET_VALID";
inline constexpr char kWrongNode[] = "WRONG_NODE";
inline constexpr char kWrongCgroup[] = "WRONG_CGROUP";
inline constexpr char kNotGoverned[] = "NOT_GOVERNED";
inline constexpr char kUnprotectedTarget[] = "UNPROTECTED_TARGET";
// A TAO naming a DNS name with no current protected address set here.
inline constexpr char kNameUnresolved[] = "NAME_UNRESOLVED";
inline constexpr char kReplay[] = "REPLAY";
inline constexpr char kLedgerUnavailable[] = "LEDGER_UNAVAILABLE";
inline constexpr char kGrantFailed[] = "GRANT_INSTALL_FAILED";
inline constexpr char kPeerUnknown[] = "PEER_UNKNOWN";
inline constexpr char kRateLimited[] = "RATE_LIMITED";
}  // namespace reason

struct RedeemOutcome {
  absl::Status status;       // OK, or the gRPC-mappable refusal
  std::string reason_code;   // empty when OK
  TaoId tao_id{};
  uint64_t consumed_seq = 0;
  int64_t grant_expires_at_ms = 0;
};

class Redeemer {
 public:
  // `clock` (wall time: TAO windows, grant expiry) must outlive the Redeemer.
  Redeemer(RedeemConfig config, TaoVerifier& verifier, Evidence& evidence, GrantTable& grants,
           const Clock& clock = RealClock());

  RedeemOutcome Redeem(std::string_view wire, const PeerIdentity& peer);

  // Marks ids as consumed (from the ledger's CONSUMED records at start);
  // expires_at_ms is the TAO's expiry (INT64_MAX if the record has none).
  void RestoreConsumed(const TaoId& id, int64_t expires_at_ms = INT64_MAX);
  size_t ConsumedCount() const;

  // Forgets consumed ids whose TAO expired more than max_clock_skew_ms +
  // kPruneMarginMs ago: the time-window check refuses them anyway. It also
  // raises the horizon: a TAO expiring at or before the latest pruned expiry
  // is refused outright, so even a wall clock set back cannot replay a
  // pruned id. Runs by itself every kPruneEveryMs of redeems; returns how
  // many ids were dropped.
  size_t PruneConsumed();
  int64_t horizon_ms() const;
  static constexpr int64_t kPruneMarginMs = 60'000;
  static constexpr int64_t kPruneEveryMs = 60'000;

  // Builds the refusal for a call whose peer could not be identified.
  RedeemOutcome RejectUnknownPeer(std::string_view wire, const absl::Status& why);

  // Where every refusal of this agent is recorded (operator refusals too).
  RefusalRecorder& refusals() { return refusals_; }

 private:
  RedeemOutcome Reject(absl::Status status, std::string reason_code, std::string_view wire,
                       const v1::TaoBody* body, const PeerIdentity* peer);
  absl::Status CheckBinding(const v1::TaoBody& body, const PeerIdentity& peer, std::string* code) const;
  bool Claim(const TaoId& id, int64_t expires_at_ms);
  size_t PruneLocked(int64_t now_ms);

  RedeemConfig config_;
  TaoVerifier& verifier_;
  Evidence& evidence_;
  GrantTable& grants_;
  const Clock& clock_;
  RefusalRecorder refusals_;

  struct IdHash {
    size_t operator()(const TaoId& id) const;
  };
  mutable std::mutex mu_;
  // id -> the TAO's expires_at_ms; guarded by mu_, as are the two below.
  std::unordered_map<TaoId, int64_t, IdHash> consumed_;
  int64_t horizon_ms_ = INT64_MIN;
  int64_t next_prune_ms_ = INT64_MIN;
};

}  // namespace taogate::agent
