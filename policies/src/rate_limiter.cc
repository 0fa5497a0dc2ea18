#include "taogate/policies/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "taogate/common/strings.h"

namespace taogate::policies {

RateLimiter::RateLimiter(RateLimitConfig config, Clock clock, size_t max_tracked)
    : config_(std::move(config)), clock_(std::move(clock)), max_tracked_(max_tracked) {}

const RateLimit* RateLimiter::LimitFor(std::string_view actor) const {
  auto it = config_.per_actor.find(std::string(actor));
  if (it != config_.per_actor.end()) return &it->second;
  return config_.default_limit ? &*config_.default_limit : nullptr;
}

void RateLimiter::Refill(Bucket& b, const RateLimit& l,
                         std::chrono::steady_clock::time_point now) const {
  // A clock that goes backwards refills nothing (never more than we earned).
  if (now > b.last) {
    double secs = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min<double>(l.burst, b.tokens + secs * l.tokens_per_second);
    b.last = now;
  }
}

bool RateLimiter::EvictFull(std::chrono::steady_clock::time_point now) {
  size_t before = buckets_.size();
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const RateLimit* l = LimitFor(it->first);
    if (l) Refill(it->second, *l, now);
    if (!l || it->second.tokens >= l->burst) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  return buckets_.size() < before;
}

std::optional<RateLimit> RateLimiter::LimitOf(std::string_view actor) const {
  std::lock_guard<std::mutex> lock(mu_);
  const RateLimit* l = LimitFor(actor);
  return l ? std::optional<RateLimit>(*l) : std::nullopt;
}

absl::Status RateLimiter::TryAcquire(std::string_view actor) {
  auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  const RateLimit* l = LimitFor(actor);
  if (!l) return absl::OkStatus();
  std::string key(actor);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_tracked_ && !EvictFull(now)) {
      return absl::ResourceExhaustedError("rate limiter full; try again later");
    }
    it = buckets_.emplace(std::move(key), Bucket{static_cast<double>(l->burst), now}).first;
  }
  Bucket& b = it->second;
  Refill(b, *l, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return absl::OkStatus();
  }
  double wait_ms = std::ceil((1.0 - b.tokens) / l->tokens_per_second * 1000.0);
  return absl::ResourceExhaustedError(
      StrCat("rate limit exceeded; next token in ", static_cast<int64_t>(wait_ms), " ms"));
}

void RateLimiter::Reconfigure(RateLimitConfig config) {
  auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [actor, b] : buckets_) {
    if (const RateLimit* old = LimitFor(actor)) Refill(b, *old, now);
  }
  config_ = std::move(config);
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const RateLimit* l = LimitFor(it->first);
    if (!l) {
      it = buckets_.erase(it);
      continue;
    }
    it->second.tokens = std::min<double>(it->second.tokens, l->burst);
    ++it;
  }
}

size_t RateLimiter::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

}  // namespace taogate::policies
