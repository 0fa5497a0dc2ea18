#include "taogate/agent/denied_aggregator.h"

#include <algorithm>

namespace taogate::agent {

template <typename Key>
void CountAggregator<Key>::Pending::Note(uint64_t n, int64_t ms) {
  count += n;
  if (ms == 0) return;
  if (first_ms == 0 || ms < first_ms) first_ms = ms;
  last_ms = std::max(last_ms, ms);
}

template <typename Key>
void CountAggregator<Key>::Add(const Key& key, uint64_t n, int64_t event_ms) {
  auto it = counts_.find(key);
  if (it != counts_.end()) {
    it->second.Note(n, event_ms);
  } else if (counts_.size() < max_keys_) {
    counts_[key].Note(n, event_ms);
  } else {
    dropped_.Note(n, event_ms);
  }
}

template <typename Key>
std::vector<CountSummary<Key>> CountAggregator<Key>::Flush() {
  using Summary = CountSummary<Key>;
  std::vector<Summary> all;
  all.reserve(counts_.size());
  for (auto& [k, p] : counts_) all.push_back({k, p.count, false, p.first_ms, p.last_ms});
  counts_.clear();
  std::stable_sort(all.begin(), all.end(),
                   [](const Summary& a, const Summary& b) { return a.count > b.count; });
  Pending rest = dropped_;
  dropped_ = Pending{};
  if (all.size() > max_records_) {
    for (size_t i = max_records_; i < all.size(); ++i) {
      rest.Note(all[i].count, all[i].first_ms);
      if (all[i].last_ms != 0) rest.Note(0, all[i].last_ms);
    }
    all.resize(max_records_);
  }
  if (rest.count > 0) all.push_back({Key{}, rest.count, true, rest.first_ms, rest.last_ms});
  return all;
}

template class CountAggregator<DeniedKey>;
template class CountAggregator<RefusalKey>;

}  // namespace taogate::agent
