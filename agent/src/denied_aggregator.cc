#include "taogate/agent/denied_aggregator.h"

#include <algorithm>

namespace taogate::agent {

void DeniedAggregator::Add(const DeniedKey& key, uint64_t n) {
  auto it = counts_.find(key);
  if (it != counts_.end()) {
    it->second += n;
  } else if (counts_.size() < max_keys_) {
    counts_.emplace(key, n);
  } else {
    dropped_keys_events_ += n;
  }
}

std::vector<DeniedSummary> DeniedAggregator::Flush() {
  std::vector<DeniedSummary> all;
  all.reserve(counts_.size());
  for (auto& [k, n] : counts_) all.push_back({k, n, false});
  counts_.clear();
  std::stable_sort(all.begin(), all.end(),
                   [](const DeniedSummary& a, const DeniedSummary& b) { return a.count > b.count; });
  uint64_t rest = dropped_keys_events_;
  dropped_keys_events_ = 0;
  if (all.size() > max_records_) {
    for (size_t i = max_records_; i < all.size(); ++i) rest += all[i].count;
    all.resize(max_records_);
  }
  if (rest > 0) all.push_back({DeniedKey{}, rest, true});
  return all;
}

}  // namespace taogate::agent
