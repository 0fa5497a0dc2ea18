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
//
// ReservedEvidence keeps free space in reserve on the ledger's filesystem so
// that a CONSUMED record can always be written: below `reserve_bytes` only
// the essential kinds (CONSUMED, EXERCISED, KILLSWITCH) are appended and
// everything else (refusals, kernel denials) is refused with
// RESOURCE_EXHAUSTED; below `floor_bytes` even those are refused, with
// UNAVAILABLE "node ledger low on space: N bytes free, reserve M", before
// the disk is actually full. Thread-safe if `inner` and `space` are.
#pragma once

#include <atomic>
#include <functional>
#include <string>

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

struct SpaceReserve {
  uint64_t reserve_bytes = 64ull << 20;  // non-essential records stop below this
  uint64_t floor_bytes = 4ull << 20;     // essential records (and so redeems) stop below this
};

// CONSUMED, EXERCISED and KILLSWITCH: the records that must never be crowded out.
bool IsEssential(Evidence::Kind kind);

class ReservedEvidence final : public Evidence {
 public:
  ReservedEvidence(Evidence& inner, FreeSpace& space, SpaceReserve reserve)
      : inner_(inner), space_(space), reserve_(reserve) {}
  absl::StatusOr<uint64_t> Append(Kind kind, Fields fields) override;
  absl::Status CheckRoom(Kind kind) override;
  // Appends refused for want of space (metrics).
  uint64_t refused() const { return refused_.load(); }

 private:
  Evidence& inner_;
  FreeSpace& space_;
  const SpaceReserve reserve_;
  std::atomic<uint64_t> refused_{0};
};

// statvfs(dir): blocks available to unprivileged users (f_bavail), so the
// root-only reserved blocks never count as room.
class StatvfsFreeSpace final : public FreeSpace {
 public:
  explicit StatvfsFreeSpace(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<uint64_t> FreeBytes() override;

 private:
  std::string dir_;
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
