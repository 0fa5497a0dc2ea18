// Rate-limited aggregation of repeated events, so a flood cannot fill the
// disk: events are counted per key and Flush() turns the counts into at most
// `max_records` summaries plus, if more keys were seen, one overflow summary
// carrying the rest of the count. A ledger written from the summaries
// therefore grows by at most max_records + 1 records per flush interval,
// whatever the event rate, and no event is lost from the counts.
//
// Two keys use it: kernel DENIED events per (workload cgroup, verdict,
// target) (the event consumer) and refusals per (uid, workload cgroup,
// reason code) (RefusalRecorder: refused redeems and operator calls).
//
// Each summary carries the wall-clock time of its first and last event: a
// record is written up to one flush interval after the events it counts, so
// ledger order is write order, and these times say when the events happened
// (e.g. before or after a KILLSWITCH record).
//
// Not thread-safe: the owner serializes calls.
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

// A caller refused by the agent: its uid and its workload cgroup (the
// caller's own cgroup when it is not governed).
struct RefusalKey {
  uint32_t uid = 0;
  uint64_t cgroup_id = 0;
  std::string reason_code;  // reason::k* or "OPERATOR_ONLY"
  bool operator<(const RefusalKey& o) const {
    return std::tie(uid, cgroup_id, reason_code) < std::tie(o.uid, o.cgroup_id, o.reason_code);
  }
};

template <typename Key>
struct CountSummary {
  Key key;             // default-constructed for the overflow summary
  uint64_t count = 0;  // events
  bool overflow = false;
  int64_t first_ms = 0, last_ms = 0;  // wall clock of the first and last event (0: unknown)
};

template <typename Key>
class CountAggregator {
 public:
  explicit CountAggregator(uint32_t max_records, size_t max_keys = 4096)
      : max_records_(max_records), max_keys_(max_keys) {}

  // event_ms: wall-clock time of the event(s), 0 if unknown.
  void Add(const Key& key, uint64_t n = 1, int64_t event_ms = 0);
  // Takes the pending counts; largest counts first.
  std::vector<CountSummary<Key>> Flush();
  bool empty() const { return counts_.empty() && dropped_.count == 0; }

 private:
  const uint32_t max_records_;
  const size_t max_keys_;                // memory bound too
  struct Pending {
    uint64_t count = 0;
    int64_t first_ms = 0, last_ms = 0;
    void Note(uint64_t n, int64_t ms);
  };
  std::map<Key, Pending> counts_;
  Pending dropped_;                      // events whose key did not fit
};

// Instantiated in denied_aggregator.cc for these two keys only.
extern template class CountAggregator<DeniedKey>;
extern template class CountAggregator<RefusalKey>;

using DeniedSummary = CountSummary<DeniedKey>;
using DeniedAggregator = CountAggregator<DeniedKey>;
using RefusalSummary = CountSummary<RefusalKey>;
using RefusalAggregator = CountAggregator<RefusalKey>;

}  // namespace taogate::agent
