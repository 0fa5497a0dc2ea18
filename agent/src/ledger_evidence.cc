#include "taogate/agent/ledger_evidence.h"

#include <sys/statvfs.h>

#include <charconv>
#include <cstring>

#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::agent {

ledger::RecordKind LedgerEvidence::ToRecordKind(Kind kind) {
  switch (kind) {
    case Kind::kConsumed: return ledger::RecordKind::kConsumed;
    case Kind::kExercised: return ledger::RecordKind::kExercised;
    case Kind::kRejected: return ledger::RecordKind::kRejected;
    case Kind::kDenied: return ledger::RecordKind::kDenied;
    case Kind::kKillSwitch: return ledger::RecordKind::kKillSwitch;
    case Kind::kOperatorRefused: return ledger::RecordKind::kRejected;
    case Kind::kWorkload: return ledger::RecordKind::kWorkload;
    case Kind::kHold: return ledger::RecordKind::kHold;
    case Kind::kWouldDeny: return ledger::RecordKind::kWouldDeny;
  }
  return ledger::RecordKind::kRejected;
}

absl::StatusOr<uint64_t> LedgerEvidence::Append(Kind kind, Fields fields) {
  auto seq = ledger_.Append(ToRecordKind(kind), std::move(fields));
  last_ok_ = seq.ok();
  if (!seq.ok()) {
    ++failures_;
    log::Error("ledger append failed", {{"error", std::string(seq.status().message())}});
  }
  return seq;
}

bool IsEssential(Evidence::Kind kind) {
  return kind == Evidence::Kind::kConsumed || kind == Evidence::Kind::kExercised ||
         kind == Evidence::Kind::kKillSwitch;
}

absl::Status ReservedEvidence::CheckRoom(Kind kind) {
  auto free = space_.FreeBytes();
  // Unknown free space is no room (fail closed).
  if (!free.ok())
    return absl::UnavailableError(StrCat("node ledger free space unknown: ", free.status().message()));
  if (IsEssential(kind)) {
    if (*free >= reserve_.floor_bytes) return absl::OkStatus();
    return absl::UnavailableError(
        StrCat("node ledger low on space: ", *free, " bytes free, reserve ", reserve_.floor_bytes));
  }
  if (*free >= reserve_.reserve_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(StrCat("node ledger low on space: ", *free, " bytes free, reserve ",
                                             reserve_.reserve_bytes, " kept for CONSUMED records"));
}

absl::StatusOr<uint64_t> ReservedEvidence::Append(Kind kind, Fields fields) {
  if (absl::Status st = CheckRoom(kind); !st.ok()) {
    if (refused_.fetch_add(1) == 0 || IsEssential(kind))
      log::Error("ledger append refused", {{"error", std::string(st.message())}});
    return st;
  }
  return inner_.Append(kind, std::move(fields));
}

absl::StatusOr<uint64_t> StatvfsFreeSpace::FreeBytes() {
  struct statvfs v {};
  if (statvfs(dir_.c_str(), &v) != 0) return ErrnoStatus(errno, StrCat("statvfs ", dir_));
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

absl::StatusOr<uint64_t> ForEachConsumed(const ledger::Ledger& ledger,
                                         const std::function<void(const TaoId&, int64_t)>& consumed,
                                         const std::function<void(const TaoId&)>& exercised) {
  uint64_t n = 0;
  absl::Status bad;
  absl::Status st = ledger.Scan(0, [&](const ledger::Record& r) {
    const bool is_exercised = r.kind == ledger::RecordKind::kExercised;
    if (r.kind != ledger::RecordKind::kConsumed && !(is_exercised && exercised)) return true;
    auto hex = r.Field("tao_id");
    std::string raw;
    if (hex) {
      auto bytes = FromHex(*hex);
      if (bytes.ok()) raw.assign(bytes->begin(), bytes->end());
    }
    if (is_exercised) {
      if (raw.size() == 16) {
        TaoId id{};
        std::memcpy(id.data(), raw.data(), id.size());
        exercised(id);
      }
      return true;
    }
    if (raw.size() != 16) {
      bad = absl::DataLossError(StrCat("CONSUMED record ", r.seq, " has no valid tao_id"));
      return false;
    }
    TaoId id{};
    std::memcpy(id.data(), raw.data(), id.size());
    int64_t expires = INT64_MAX;
    if (auto e = r.Field("expires_at")) {
      auto [end, ec] = std::from_chars(e->data(), e->data() + e->size(), expires);
      if (ec != std::errc() || end != e->data() + e->size()) expires = INT64_MAX;
    }
    consumed(id, expires);
    ++n;
    return true;
  });
  if (!st.ok()) return st;
  if (!bad.ok()) return bad;
  return n;
}

}  // namespace taogate::agent
