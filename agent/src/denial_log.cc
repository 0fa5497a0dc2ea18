#include "taogate/agent/denial_log.h"

#include <algorithm>

#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {

bool SameDenial(const Denial& a, const Denial& b) {
  return a.pid == b.pid && a.cgroup_id == b.cgroup_id && a.reason == b.reason && a.target == b.target &&
         a.hook == b.hook && a.has_tao == b.has_tao && a.tao_id == b.tao_id;
}

}  // namespace

template <typename Key>
void DenialLog::Rings<Key>::Add(Key k, const Denial& d) {
  auto it = map_.find(k);
  if (it == map_.end()) {
    if (map_.size() >= max_keys_) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(k);
    it = map_.emplace(k, Entry{lru_.begin(), {}}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  std::vector<Denial>& ring = it->second.ring;
  if (!ring.empty() && SameDenial(ring.back(), d)) {
    uint64_t count = ring.back().count + 1;
    ring.back() = d;
    ring.back().count = count;
    return;
  }
  if (ring.size() >= per_key_) ring.erase(ring.begin());
  ring.push_back(d);
}

template <typename Key>
const std::vector<Denial>* DenialLog::Rings<Key>::Find(Key k) const {
  auto it = map_.find(k);
  return it == map_.end() ? nullptr : &it->second.ring;
}

DenialLog::DenialLog(DenialLogOptions options)
    : options_(options),
      by_cgroup_(std::max<size_t>(options.per_key, 1), std::max<size_t>(options.max_cgroups, 1)),
      by_pid_(std::max<size_t>(options.per_key, 1), std::max<size_t>(options.max_pids, 1)) {}

void DenialLog::Exercised(uint64_t cgroup_id, const std::string& target, const TaoId& tao_id, int64_t time_ms) {
  std::string key = StrCat(cgroup_id, "|", target);
  std::lock_guard l(mu_);
  auto it = used_.find(key);
  if (it != used_.end()) {
    used_lru_.splice(used_lru_.begin(), used_lru_, it->second.lru);
    it->second.tao_id = tao_id;
    it->second.time_ms = time_ms;
    return;
  }
  if (used_.size() >= std::max<size_t>(options_.max_exercised, 1)) {
    used_.erase(used_lru_.back());
    used_lru_.pop_back();
  }
  used_lru_.push_front(key);
  used_.emplace(std::move(key), Use{tao_id, time_ms, used_lru_.begin()});
}

void DenialLog::Record(Denial d) {
  std::lock_guard l(mu_);
  if (d.reason == denial::kNoGrant) {
    auto it = used_.find(StrCat(d.cgroup_id, "|", d.target));
    if (it != used_.end() && d.time_ms - it->second.time_ms <= options_.consumed_window_ms) {
      d.reason = denial::kConsumed;
      d.has_tao = true;
      d.tao_id = it->second.tao_id;
      d.consumed_at_ms = it->second.time_ms;
    }
  }
  d.seq = next_seq_++;
  d.count = 1;
  by_cgroup_.Add(d.cgroup_id, d);
  if (d.pid != 0) by_pid_.Add(d.pid, d);
}

std::vector<Denial> DenialLog::Query(uint32_t pid, uint64_t cgroup_id, size_t limit) const {
  std::vector<Denial> out;
  std::lock_guard l(mu_);
  auto take = [&](const std::vector<Denial>& ring) {
    for (const Denial& d : ring)
      if (pid == 0 || cgroup_id == 0 || d.cgroup_id == cgroup_id) out.push_back(d);
  };
  if (pid != 0) {
    if (const auto* r = by_pid_.Find(pid)) take(*r);
  } else if (cgroup_id != 0) {
    if (const auto* r = by_cgroup_.Find(cgroup_id)) take(*r);
  } else {
    by_cgroup_.ForEach(take);
  }
  std::sort(out.begin(), out.end(), [](const Denial& a, const Denial& b) { return a.seq > b.seq; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

bool DenialLog::PidDeniedElsewhere(uint32_t pid, uint64_t cgroup_id) const {
  std::lock_guard l(mu_);
  const auto* r = by_pid_.Find(pid);
  return r != nullptr && std::any_of(r->begin(), r->end(), [&](const Denial& d) { return d.cgroup_id != cgroup_id; });
}

}  // namespace taogate::agent
