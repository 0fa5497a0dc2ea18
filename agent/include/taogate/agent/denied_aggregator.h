// Rate-limited aggregation of kernel DENIED events, so a denial flood cannot
// fill the disk: events are counted per (workload cgroup, verdict, target)
// and Flush() turns the counts into at most `max_records` records plus, if
// more keys were seen, one overflow record carrying the rest of the count.
// The ledger therefore grows by at most max_records + 1 records per flush
// interval, whatever the event rate.
//
// Each summary carries the wall-clock time of its first and last event: a
// DENIED record is written up to one flush interval after the events it
// counts, so ledger order is write order, and these times say when the
// kernel refused (e.g. before or after a KILLSWITCH record).
//
// Not thread-safe: owned by the event consumer thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace taogate::agent {

struct DeniedKey {
  uint64_t cgroup_id = 0;
  std::string verdict;  // bpf::VerdictName
  std::string target;   // "tcp:10.0.0.5:5432", "unix:/run/x.sock"
  bool operator<(const DeniedKey& o) const {
    return std::tie(cgroup_id, verdict, target) < std::tie(o.cgroup_id, o.verdict, o.target);
  }
};

struct DeniedSummary {
  DeniedKey key;       // cgroup_id 0 and empty strings for the overflow record
  uint64_t count = 0;  // events
  bool overflow = false;
  int64_t first_ms = 0, last_ms = 0;  // wall clock of the first and last event (0: unknown)
};

class DeniedAggregator {
 public:
  DeniedAggregator(uint32_t max_records, size_t max_keys = 4096)
      : max_records_(max_records), max_keys_(max_keys) {}

  // event_ms: wall-clock time of the event(s), 0 if unknown.
  void Add(const DeniedKey& key, uint64_t n = 1, int64_t event_ms = 0);
  // Takes the pending counts; largest counts first.
  std::vector<DeniedSummary> Flush();
  bool empty() const { return counts_.empty() && dropped_.count == 0; }

 private:
  const uint32_t max_records_;
  const size_t max_keys_;                // memory bound too
  struct Pending {
    uint64_t count = 0;
    int64_t first_ms = 0, last_ms = 0;
    void Note(uint64_t n, int64_t ms);
  };
  std::map<DeniedKey, Pending> counts_;
  Pending dropped_;                      // events whose key did not fit
};

}  // namespace taogate::agent
