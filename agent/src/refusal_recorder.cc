#include "taogate/agent/refusal_recorder.h"

#include <algorithm>
#include <chrono>

#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {
constexpr char kOperatorOnly[] = "OPERATOR_ONLY";

void AddTimes(int64_t first_ms, int64_t last_ms, Evidence::Fields& f) {
  if (first_ms == 0) return;
  f.emplace_back("first_seen_ms", std::to_string(first_ms));
  f.emplace_back("last_seen_ms", std::to_string(last_ms));
}
}  // namespace

RefusalPeer RefusalPeer::Of(const PeerIdentity* peer) {
  if (peer == nullptr) return {};
  return {static_cast<uint32_t>(peer->uid),
          peer->workload_cgroup_id != 0 ? peer->workload_cgroup_id : peer->cgroup_id};
}

RefusalRecorder::RefusalRecorder(Evidence& evidence, RefusalOptions options, const Clock& clock)
    : evidence_(evidence),
      options_(options),
      clock_(clock),
      pending_(options.max_aggregates, options.max_keys) {}

RefusalRecorder::~RefusalRecorder() { Stop(); }

// A clock set back refills nothing (and takes nothing back).
void RefusalRecorder::Refill(Bucket& b, int64_t now) const {
  if (now <= b.last_ms) return;
  b.tokens = std::min<double>(options_.burst, b.tokens + (now - b.last_ms) * options_.rate_per_s / 1000.0);
  b.last_ms = now;
}

bool RefusalRecorder::Admit(const RefusalPeer& peer) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(peer);
  if (it == buckets_.end()) return true;  // never refused (or untracked): full bucket
  Bucket& b = it->second;
  Refill(b, clock_.WallMs());
  if (b.tokens >= 1) return true;
  ++stats_.rate_limited;
  return false;
}

absl::StatusOr<bool> RefusalRecorder::Record(Evidence::Kind kind, const RefusalPeer& peer,
                                             const std::string& reason_code,
                                             const std::function<Evidence::Fields()>& fields) {
  const int64_t now = clock_.WallMs();
  RefusalKey key{peer.uid, peer.cgroup_id, reason_code};
  bool own = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.refusals;
    if (kind == Evidence::Kind::kRejected) {  // a refused redeem spends a token
      auto it = buckets_.find(peer);
      if (it == buckets_.end() && buckets_.size() < options_.max_keys)
        it = buckets_.emplace(peer, Bucket{static_cast<double>(options_.burst), now}).first;
      if (it != buckets_.end()) {
        Bucket& b = it->second;
        Refill(b, now);
        b.tokens = std::max(0.0, b.tokens - 1);
      }
    }
    auto pr = peer_records_.find(peer);
    const uint32_t used = pr == peer_records_.end() ? 0 : pr->second;
    own = hot_.count(key) == 0 && hot_.size() < options_.max_keys && used < options_.peer_records &&
          global_records_ < options_.global_records &&
          (pr != peer_records_.end() || peer_records_.size() < options_.max_keys);
    if (own) {
      hot_.insert(key);
      ++peer_records_[peer];
      ++global_records_;
    } else {
      pending_.Add(key, 1, now);
      ++stats_.aggregated;
    }
  }
  if (!own) return false;
  auto seq = evidence_.Append(kind, fields());
  std::lock_guard<std::mutex> l(mu_);
  if (!seq.ok()) {
    NoteDroppedLocked(1, now, now);
    return seq.status();
  }
  ++stats_.records;
  return true;
}

void RefusalRecorder::NoteDroppedLocked(uint64_t n, int64_t first_ms, int64_t last_ms) {
  stats_.dropped += n;
  dropped_ += n;
  if (first_ms != 0 && (dropped_first_ms_ == 0 || first_ms < dropped_first_ms_)) dropped_first_ms_ = first_ms;
  dropped_last_ms_ = std::max(dropped_last_ms_, last_ms);
}

bool RefusalRecorder::AppendSummary(Evidence::Kind kind, Evidence::Fields f) {
  bool ok = evidence_.Append(kind, std::move(f)).ok();
  if (ok) {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.summary_records;
  }
  return ok;
}

size_t RefusalRecorder::Flush() {
  std::vector<RefusalSummary> sums;
  uint64_t dropped = 0;
  int64_t dropped_first = 0, dropped_last = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    sums = pending_.Flush();
    // Keys with repeats stay hot: a flood that goes on is summarized, not
    // re-recorded one by one every interval.
    hot_.clear();
    for (const auto& s : sums)
      if (!s.overflow) hot_.insert(s.key);
    peer_records_.clear();
    global_records_ = 0;
    const int64_t now = clock_.WallMs();
    for (auto it = buckets_.begin(); it != buckets_.end();) {  // a refilled bucket is the default
      Refill(it->second, now);
      it = it->second.tokens >= options_.burst ? buckets_.erase(it) : std::next(it);
    }
    std::swap(dropped, dropped_);
    std::swap(dropped_first, dropped_first_ms_);
    std::swap(dropped_last, dropped_last_ms_);
  }
  size_t written = 0;
  for (const RefusalSummary& s : sums) {
    Evidence::Fields f;
    if (s.overflow) {
      f = {{"event", "refusal_overflow"}, {"count", std::to_string(s.count)}};
    } else {
      f = {{"event", "refusal_repeats"}, {"reason_code", s.key.reason_code}};
      if (s.key.uid != UINT32_MAX) f.emplace_back("uid", std::to_string(s.key.uid));
      f.emplace_back("cgroup_id", std::to_string(s.key.cgroup_id));
      f.emplace_back("count", std::to_string(s.count));
    }
    AddTimes(s.first_ms, s.last_ms, f);
    const bool op = !s.overflow && s.key.reason_code == kOperatorOnly;
    if (AppendSummary(op ? Evidence::Kind::kOperatorRefused : Evidence::Kind::kRejected, std::move(f))) {
      ++written;
    } else {
      std::lock_guard<std::mutex> l(mu_);
      NoteDroppedLocked(s.count, s.first_ms, s.last_ms);
    }
  }
  if (dropped > 0) {
    Evidence::Fields f = {{"event", "refusal_dropped"},
                          {"count", std::to_string(dropped)},
                          {"reason", "refusals not recorded: ledger below its reserve or append failed"}};
    AddTimes(dropped_first, dropped_last, f);
    if (AppendSummary(Evidence::Kind::kRejected, std::move(f))) {
      ++written;
    } else {
      std::lock_guard<std::mutex> l(mu_);
      dropped_ += dropped;  // still owed; stats_.dropped counted them already
      if (dropped_first != 0 && (dropped_first_ms_ == 0 || dropped_first < dropped_first_ms_))
        dropped_first_ms_ = dropped_first;
      dropped_last_ms_ = std::max(dropped_last_ms_, dropped_last);
    }
  }
  return written;
}

void RefusalRecorder::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> l(run_mu_);
    while (!stop_) {
      run_cv_.wait_for(l, std::chrono::milliseconds(options_.flush_ms), [this] { return stop_; });
      l.unlock();
      Flush();
      l.lock();
    }
  });
}

void RefusalRecorder::Stop() {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    if (stop_) return;
    stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Flush();
}

RefusalRecorder::Stats RefusalRecorder::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace taogate::agent
