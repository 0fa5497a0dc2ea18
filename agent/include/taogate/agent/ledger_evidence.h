// Evidence over the node ledger (taogate::ledger). Maps the agent's kinds to
// ledger RecordKinds:
//   kConsumed -> CONSUMED        kExercised -> EXERCISED
//   kRejected -> REJECTED        kDenied    -> DENIED (kernel denials, aggregated)
//   kKillSwitch -> KILLSWITCH    kOperatorRefused -> REJECTED (reason_code OPERATOR_ONLY)
// Field names must be in the ledger's allowlist (record.h); anything else is
// InvalidArgument from the ledger, which callers treat as "not recorded"
// (fail closed).
//
// Thread-safe (the ledger is); Append returns once durable.
#pragma once

#include <atomic>
#include <functional>

#include "taogate/agent/deps.h"
#include "taogate/ledger/ledger.h"

namespace taogate::agent {

class LedgerEvidence final : public Evidence {
 public:
  explicit LedgerEvidence(ledger::Ledger& ledger) : ledger_(ledger) {}
  absl::StatusOr<uint64_t> Append(Kind kind, Fields fields) override;
  static ledger::RecordKind ToRecordKind(Kind kind);

  // Status of the most recent append (for /healthz).
  bool last_append_ok() const { return last_ok_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  ledger::Ledger& ledger_;
  std::atomic<bool> last_ok_{true};
  std::atomic<uint64_t> failures_{0};
};

// Scans the whole ledger and calls `consumed` with the id and expires_at
// (INT64_MAX when absent) of every CONSUMED record (restart safety: the
// claim set is rebuilt from these) and
// `exercised` (if set) with the id of every EXERCISED record (so a kernel
// event re-read from the pinned ring buffer after a crash is not recorded
// twice). Returns the number of CONSUMED records. DataLoss if a CONSUMED
// record's tao_id is missing or malformed: starting with a partial index
// could let a spent TAO be redeemed again.
absl::StatusOr<uint64_t> ForEachConsumed(const ledger::Ledger& ledger,
                                         const std::function<void(const TaoId&, int64_t)>& consumed,
                                         const std::function<void(const TaoId&)>& exercised = nullptr);

}  // namespace taogate::agent
