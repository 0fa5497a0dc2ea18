// The governor's state shared by replicas through PostgreSQL (issue 18).
// So far: kill-switch broadcasts (every replica serves the same history, in
// one order), the active policy bundle (the latest one activated on any
// replica) and decisions waiting for approval (approved, watched and read
// through any replica). A replica learns of another's change by
// LISTEN/NOTIFY on channels `taogate_killswitch`, `taogate_policy` and
// `taogate_decision` (payload: the decision id), and polls the first two
// each second, should a notification be lost with a connection.
//
// Thread safety: Append and Since may be called concurrently (one
// connection under a mutex); WaitNotify from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/pgstore/pg.h"

namespace taogate::governance::internal {

// A policy bundle as activated on some replica.
struct SharedPolicy {
  uint64_t seq = 0;
  std::string actor, name, yaml, sha256_hex;
};

class PgSharedState {
 public:
  // FailedPrecondition unless the schema is current (taogate-governor migrate).
  static absl::StatusOr<std::unique_ptr<PgSharedState>> Open(const std::string& conninfo);

  // Appends `req` with the next sequence (set in it and returned), in one
  // transaction that holds the table's lock, so sequences are committed in
  // order, then notifies the other replicas.
  absl::StatusOr<uint64_t> AppendKillSwitch(v1::GovernorKillSwitchRequest& req);
  // Broadcasts with sequence > after, in order.
  absl::StatusOr<std::vector<v1::GovernorKillSwitchRequest>> KillSwitchSince(uint64_t after);
  // Records an activation (its ledger record is already durable); returns
  // its seq, then notifies the other replicas.
  absl::StatusOr<uint64_t> AppendPolicy(const SharedPolicy& p);
  // The latest activation if it is newer than seq `after` (0: any).
  absl::StatusOr<std::optional<SharedPolicy>> LatestPolicy(uint64_t after);
  // A decision's state (an opaque text the governor encodes) by id.
  absl::Status PutDecision(const std::string& id, const std::string& entry);
  absl::StatusOr<std::optional<std::string>> GetDecision(const std::string& id);
  // Changes a decision under its row lock: `change` gets the stored entry
  // and returns the new one (an error rolls back and is returned). With a
  // nonce, it is claimed in the same transaction, refused if another
  // approval (through any replica) used it: PermissionDenied. Then notifies the replicas.
  using Change = std::function<absl::StatusOr<std::string>(const std::string& entry)>;
  absl::StatusOr<std::string> UpdateDecision(const std::string& id, const Change& change,
                                             const std::string& nonce_hex = "", int64_t nonce_expires_ms = 0,
                                             int64_t now_ms = 0);

  // Takes one token from `actor`'s bucket (refilled at `per_second` up to
  // `burst`, by the replicas' wall clocks) in one statement under the row's
  // lock: OK, or ResourceExhausted with nothing taken.
  absl::Status TakeToken(const std::string& actor, double per_second, uint32_t burst, int64_t now_ms);

  struct Notified {
    bool any = false;
    std::vector<std::string> decisions;  // ids of changed decisions
  };
  // Waits up to `timeout` for notifications. A broken listening connection
  // is re-opened on the next call.
  Notified WaitNotify(std::chrono::milliseconds timeout);

 private:
  explicit PgSharedState(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  std::string conninfo_;
  std::mutex mu_;
  pgstore::Conn conn_;    // guarded by mu_
  pgstore::Conn listen_;  // WaitNotify's
};

}  // namespace taogate::governance::internal
