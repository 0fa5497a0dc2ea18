// Prometheus text exposition (format 0.0.4) for both daemons: every metric
// family is written with its HELP and TYPE lines by these helpers, so no
// sample is served undocumented. Pure functions and a lock-free histogram;
// thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace taogate::runtime {

// "# HELP name help\n# TYPE name type\n"; the family's samples follow.
std::string Family(std::string_view name, std::string_view type, std::string_view help);

// A family with one unlabelled sample.
std::string Counter(std::string_view name, std::string_view help, uint64_t v);
std::string Gauge(std::string_view name, std::string_view help, int64_t v);

// taogate_<component>_build_info{version="0.1.0",commit="abc1234"} 1, with
// HELP and TYPE (commit "" outside git).
std::string BuildInfo(std::string_view component);

// A latency histogram in seconds with fixed buckets from 0.5 ms to 10 s
// (kLatencyBuckets): Observe is lock-free and may race Samples, which then
// reads a count at most one observation behind its buckets.
class Histogram {
 public:
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  void Observe(int64_t latency_ns);
  // The _bucket (cumulative, ending with le="+Inf"), _sum and _count samples
  // of `name`; `labels` ("outcome=\"permit\"" or "") come first in each
  // label set. Write Family(name, "histogram", help) once before them.
  std::string Samples(std::string_view name, std::string_view labels = "") const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> sum_ns_{0}, count_{0};
};

}  // namespace taogate::runtime
