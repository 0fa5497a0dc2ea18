#include "taogate/runtime/metrics_text.h"

#include <cstdio>

#include "taogate/common/strings.h"
#include "taogate/common/version.h"

namespace taogate::runtime {
namespace {

// Shortest exact spelling ("0.0005", "10"): le labels as Prometheus' own clients write them.
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string Family(std::string_view name, std::string_view type, std::string_view help) {
  return StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

std::string Counter(std::string_view name, std::string_view help, uint64_t v) {
  return StrCat(Family(name, "counter", help), name, " ", v, "\n");
}

std::string Gauge(std::string_view name, std::string_view help, int64_t v) {
  return StrCat(Family(name, "gauge", help), name, " ", v, "\n");
}

std::string BuildInfo(std::string_view component) {
  const std::string name = StrCat("taogate_", component, "_build_info");
  return StrCat(Family(name, "gauge", "Always 1; labels name the build (version, git commit)."), name,
                "{version=\"", kProjectVersion, "\",commit=\"", kCommit, "\"} 1\n");
}

void Histogram::Observe(int64_t latency_ns) {
  const double s = static_cast<double>(latency_ns) / 1e9;
  size_t i = 0;
  while (i < kLatencyBuckets.size() && s > kLatencyBuckets[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(latency_ns < 0 ? 0 : latency_ns), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::string Histogram::Samples(std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : StrCat(labels, ",");
  const std::string set = labels.empty() ? "" : StrCat("{", labels, "}");
  std::string out;
  uint64_t cum = 0;
  for (size_t i = 0; i <= kLatencyBuckets.size(); ++i) {
    cum += buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < kLatencyBuckets.size() ? Num(kLatencyBuckets[i]) : "+Inf";
    out += StrCat(name, "_bucket{", sep, "le=\"", le, "\"} ", cum, "\n");
  }
  // The count is the +Inf bucket, so the two always agree.
  return StrCat(out, name, "_sum", set, " ", Num(static_cast<double>(sum_ns_.load()) / 1e9), "\n", name,
                "_count", set, " ", cum, "\n");
}

}  // namespace taogate::runtime
