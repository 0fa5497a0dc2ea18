// What a refusal costs the node: bounded ledger records and bounded CPU,
// whoever floods the world-accessible workload socket.
//
// Every refused Redeem and every refused operator call goes through
// Record(). Refusals are keyed per peer (uid, workload cgroup) and reason
// code (RefusalKey):
//   - the first refusal of a key is written at once as its own record (an
//     auditor sees promptly that something happened), as long as the peer
//     has written fewer than `peer_records` and all peers fewer than
//     `global_records` such records in the current interval;
//   - every other refusal is counted (CountAggregator) and Flush(), every
//     `flush_ms`, writes at most `max_aggregates` summary records (event
//     "refusal_repeats": reason_code, uid, cgroup_id, count, first_seen_ms,
//     last_seen_ms), one "refusal_overflow" record for the keys that did not
//     fit, and one "refusal_dropped" record counting refusals whose record
//     could not be written (ledger below its reserve, append failed).
//     A key with repeats stays "hot" into the next interval, so a steady
//     flood from one peer costs one record per interval.
// Bound: per interval at most global_records + max_aggregates + 2 refusal
// records, whatever the number of peers or calls; per peer flooding one
// reason, one record per interval.
//
// CPU: Admit() is a token bucket per peer over refused redeems (rate_per_s,
// burst). A peer that has spent its bucket is refused before its TAO is
// decoded or its signature verified (reason RATE_LIMITED); successful
// redeems cost no tokens, so a well-behaved workload never sees it.
//
// Thread-safe. Start() runs the flusher thread; Stop() (or the destructor)
// flushes once more and joins it. Without Start(), the owner calls Flush().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "taogate/common/clock.h"
#include "taogate/agent/denied_aggregator.h"
#include "taogate/agent/deps.h"
#include "taogate/agent/peer.h"

namespace taogate::agent {

struct RefusalOptions {
  int64_t flush_ms = 1'000;
  uint32_t peer_records = 4;      // own records per peer per interval
  uint32_t global_records = 64;   // own records per interval, all peers
  uint32_t max_aggregates = 32;   // summary records per flush (+ overflow + dropped)
  size_t max_keys = 4096;         // memory bound (keys, peers, buckets)
  uint32_t rate_per_s = 100;      // refused redeems a peer may cost per second...
  uint32_t burst = 200;           // ...after a burst of this many
};

// uid, and the workload cgroup (the caller's own cgroup when not governed);
// uid UINT32_MAX and cgroup 0 for a peer that could not be identified.
struct RefusalPeer {
  uint32_t uid = UINT32_MAX;
  uint64_t cgroup_id = 0;
  static RefusalPeer Of(const PeerIdentity* peer);
  bool operator<(const RefusalPeer& o) const {
    return uid != o.uid ? uid < o.uid : cgroup_id < o.cgroup_id;
  }
};

class RefusalRecorder {
 public:
  // `clock` (token-bucket refills, flush times) must outlive the recorder.
  RefusalRecorder(Evidence& evidence, RefusalOptions options, const Clock& clock = RealClock());
  ~RefusalRecorder();

  // Records one refusal of `kind` (kRejected or kOperatorRefused). `fields`
  // is called only when the refusal gets its own record. Returns true if it
  // got its own record, false if it was counted into the next summary, or
  // the append's error if its own record could not be written (then it is
  // counted as dropped).
  absl::StatusOr<bool> Record(Evidence::Kind kind, const RefusalPeer& peer, const std::string& reason_code,
                      const std::function<Evidence::Fields()>& fields);
  // False if `peer` has spent its refused-redeem budget (refuse it early).
  bool Admit(const RefusalPeer& peer);
  // Writes the pending summaries; returns how many records were written.
  size_t Flush();

  void Start();
  void Stop();

  struct Stats {
    uint64_t refusals = 0;          // Record() calls
    uint64_t records = 0;           // refusals written as their own record
    uint64_t aggregated = 0;        // refusals counted into summaries
    uint64_t summary_records = 0;   // summary/overflow/dropped records written
    uint64_t dropped = 0;           // refusals whose record could not be written
    uint64_t rate_limited = 0;      // Admit() refusals
  };
  Stats stats() const;

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
  };
  void Refill(Bucket& b, int64_t now) const;
  void NoteDroppedLocked(uint64_t n, int64_t first_ms, int64_t last_ms);
  bool AppendSummary(Evidence::Kind kind, Evidence::Fields f);

  Evidence& evidence_;
  const RefusalOptions options_;
  const Clock& clock_;

  mutable std::mutex mu_;
  RefusalAggregator pending_;                 // guarded by mu_, as are all below
  std::set<RefusalKey> hot_;                  // keys recorded this or last interval
  std::map<RefusalPeer, uint32_t> peer_records_;  // own records this interval
  uint32_t global_records_ = 0;
  std::map<RefusalPeer, Bucket> buckets_;
  uint64_t dropped_ = 0;
  int64_t dropped_first_ms_ = 0, dropped_last_ms_ = 0;
  Stats stats_;

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;                         // guarded by run_mu_
  std::thread thread_;
};

}  // namespace taogate::agent
