// The resolver's pure core: the protected names, their current address sets
// and when each is next resolved. No I/O, no clock of its own (every call
// takes the monotonic time in ns), no thread: Resolver (resolver.h) drives
// it under its lock; tests drive it by hand.
//
// The contract the agent relies on:
//  - A name's address set is the union of its current A and AAAA answers,
//    each capped (below) and sorted. A Change is produced exactly when that
//    set changes: the first answer (everything added), an answer that adds or
//    removes addresses, and SetNames dropping the name (everything removed,
//    `unwatched`).
//  - Fail closed: a family whose query failed (NXDOMAIN, SERVFAIL or another
//    error code, timeout, garbage, an answer without AD under require_ad)
//    keeps its last addresses. A NODATA answer (NOERROR, no record of that
//    family) empties that family only. A resolution after which the name
//    would have no address at all keeps every last address and is a failure
//    ("no address"): a name never loses its last address through DNS, only
//    through SetNames. A failure counts (per name and per kind), and the name
//    is stale from the first failure until a resolution with no failed
//    family (`stale_since_ns`, monotonic; 0 = fresh).
//  - Caps: an answer with more than max_addresses addresses of a family
//    keeps the max_addresses lowest (a stable choice between refreshes) and
//    counts over_cap; records of the wrong family are dropped and counted by
//    the parser (message.h).
//  - TTL: the name's TTL is the lowest TTL of the families that answered
//    (CNAME links included), clamped to [ttl_floor_s, ttl_ceiling_s]. The
//    name is resolved again after that TTL minus a jitter of up to
//    `jitter` of it; after a failure, after ttl_floor_s doubling per
//    consecutive failure up to retry_max_s.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/dns/message.h"
#include "taogate/target/target.h"

namespace taogate::dns {

struct TableOptions {
  uint32_t ttl_floor_s = 5;
  uint32_t ttl_ceiling_s = 3600;
  uint32_t retry_max_s = 60;
  size_t max_addresses = 64;  // per family
  double jitter = 0.1;        // 0..0.5
  uint64_t seed = 0;          // of the jitter
};

uint32_t ClampTtl(uint32_t ttl_s, uint32_t floor_s, uint32_t ceiling_s);

// Why a family's resolution failed; also the index of Stats::failures.
enum class Failure : uint8_t { kNxDomain, kServFail, kTimeout, kGarbage, kNoAd, kNoAddress, kOther };
inline constexpr size_t kFailureKinds = 7;
std::string_view FailureName(Failure f);  // "nxdomain", "servfail", ...

// One family's outcome (A or AAAA) of one resolution.
struct FamilyResult {
  enum class Outcome : uint8_t { kAddresses, kNoData, kFailed };
  Outcome outcome = Outcome::kFailed;
  std::vector<target::Ip> addrs;   // kAddresses
  uint32_t ttl_s = 0;              // kAddresses: unclamped
  std::vector<std::string> chain;  // CNAME targets followed
  Failure failure = Failure::kOther;  // kFailed
  std::string error;                  // kFailed: for status and logs
  uint32_t wrong_family = 0;
};

FamilyResult FailedResult(Failure failure, std::string error);

// A parsed response (or the parser's refusal) as one family's outcome:
// garbage, NXDOMAIN, any other error code, and under require_ad a clear AD
// bit fail; NOERROR with no address of the family is kNoData.
FamilyResult Classify(const absl::StatusOr<Response>& response, bool require_ad);

// What the agent hears (Sink::OnChange in resolver.h).
struct Change {
  std::string name;
  std::vector<target::Ip> added, removed;  // sorted
  uint32_t ttl_s = 0;                       // clamped; 0 when unwatched
  std::vector<std::string> chain;
  bool unwatched = false;                   // SetNames dropped the name
};

struct NameStatus {
  std::string name;
  std::vector<target::Ip> addrs;  // current set (union), sorted
  uint32_t ttl_s = 0;             // of the last successful answer, clamped
  std::vector<std::string> chain;
  bool resolved = false;          // has had an address at least once
  int64_t stale_since_ns = 0;     // monotonic; 0 = fresh
  uint64_t resolutions = 0;       // completed (success or failure)
  uint64_t failures = 0;          // resolutions with a failed family
  uint32_t consecutive_failures = 0;
  std::string last_error;
  int64_t next_due_ns = 0;
};

struct Stats {
  uint64_t resolutions = 0;
  uint64_t failures[kFailureKinds] = {};  // by Failure, one per failed family
  uint64_t wrong_family = 0;
  uint64_t over_cap = 0;
  uint64_t changes = 0;
};

// Not thread-safe: one owner serializes every call.
class NameTable {
 public:
  explicit NameTable(TableOptions options);

  // Replaces the watched set (canonical names: target::ParseHostName). New names are due
  // at once; a dropped name that had addresses yields an unwatched Change.
  std::vector<Change> SetNames(const std::vector<std::string>& names, int64_t now_ns);
  // Up to `max` names due at `now_ns`, earliest first, now marked in flight.
  std::vector<std::string> TakeDue(int64_t now_ns, size_t max);
  // The resolution of an in-flight name; a name no longer watched is ignored.
  std::optional<Change> Apply(const std::string& name, const FamilyResult& v4,
                              const FamilyResult& v6, int64_t now_ns);
  // Earliest due time of a name not in flight; INT64_MAX when none.
  int64_t NextDueNs() const;

  std::vector<NameStatus> Snapshot() const;
  const Stats& stats() const { return stats_; }
  size_t size() const { return names_.size(); }
  size_t StaleCount() const;  // names keeping their last addresses after a failure

 private:
  struct Entry {
    NameStatus status;
    std::vector<target::Ip> fam[2];  // v4, v6
    bool in_flight = false;
  };
  int64_t Delay(uint32_t seconds);
  void ApplyFamily(Entry& e, const FamilyResult& r, int f, bool& failed, uint32_t& ttl,
                   std::vector<std::string>& chain);

  TableOptions options_;
  std::mt19937_64 rng_;
  std::map<std::string, Entry> names_;
  Stats stats_;
};

}  // namespace taogate::dns
