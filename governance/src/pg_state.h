// The governor's state shared by replicas through PostgreSQL (issue 18).
// So far: kill-switch broadcasts (every replica serves the same history, in
// one order) and the active policy bundle (the latest one activated on any
// replica). A replica learns of another's change by LISTEN/NOTIFY on
// channels `taogate_killswitch` and `taogate_policy` (and by polling each
// second, should a notification be lost with a connection).
//
// Thread safety: Append and Since may be called concurrently (one
// connection under a mutex); WaitNotify from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
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
  // The latest activation, if any.
  absl::StatusOr<std::optional<SharedPolicy>> LatestPolicy();
  // Waits up to `timeout` for a notification; true if one came. A broken
  // listening connection is re-opened on the next call.
  bool WaitNotify(std::chrono::milliseconds timeout);

 private:
  explicit PgSharedState(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  std::string conninfo_;
  std::mutex mu_;
  pgstore::Conn conn_;    // guarded by mu_
  pgstore::Conn listen_;  // WaitNotify's
};

}  // namespace taogate::governance::internal
