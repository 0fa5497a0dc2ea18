// Per-actor token buckets for RequestAuthorization (and anything else the
// governor wants to meter). The governor builds one from the active bundle's
// RateLimitConfig and calls TryAcquire for each request; time comes from the
// injected clock so tests drive it by hand.
//
// Thread safety: all methods may be called concurrently (one mutex).
// Memory: at most `max_tracked` actors are remembered; when full, buckets that
// have refilled completely are forgotten (indistinguishable from new ones), and
// if none has, new actors are refused (fail closed) until some refill.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "taogate/policies/bundle.h"

namespace taogate::policies {

class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit RateLimiter(RateLimitConfig config, Clock clock = &std::chrono::steady_clock::now,
                       size_t max_tracked = 65536);

  // OkStatus and one token taken, or ResourceExhausted ("rate limit exceeded;
  // next token in N ms") and nothing taken. Actors with no limit (no entry and
  // no default) always pass and are not tracked.
  absl::Status TryAcquire(std::string_view actor);

  // Swaps in a new bundle's limits, keeping each actor's level (capped at the
  // new burst) so that reactivating a policy does not refill every bucket.
  void Reconfigure(RateLimitConfig config);

  size_t tracked() const;
  // The limit that applies to `actor` under the current config, if any
  // (governor replicas meter it in their shared store instead).
  std::optional<RateLimit> LimitOf(std::string_view actor) const;

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  const RateLimit* LimitFor(std::string_view actor) const;  // requires mu_
  void Refill(Bucket& b, const RateLimit& l, std::chrono::steady_clock::time_point now) const;
  bool EvictFull(std::chrono::steady_clock::time_point now);  // requires mu_

  mutable std::mutex mu_;
  RateLimitConfig config_;
  Clock clock_;
  size_t max_tracked_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace taogate::policies
