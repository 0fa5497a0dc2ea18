// Benchmark results in the one format scripts/bench merges:
//   [{"name": "redeem_p99", "value": 812.0, "unit": "us", "baseline": null,
//     "ratio": null, "params": {"workloads": 8}}, ...]
// `baseline` is the comparison figure measured in the same run (e.g. connect()
// without hooks) and `ratio` = value / baseline.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace taogate::bench {

struct Metric {
  std::string name;
  double value = 0;
  std::string unit;
  std::optional<double> baseline;
  nlohmann::json params = nlohmann::json::object();
};

class Report {
 public:
  void Add(Metric m) { metrics_.push_back(std::move(m)); }
  // Prints a markdown table to stdout and, if `json_path` is non-empty,
  // writes the JSON list there. Returns false if the file cannot be written.
  bool Emit(const std::string& json_path) const;

 private:
  std::vector<Metric> metrics_;
};

// Parses "--json PATH" from argv (the convention scripts/bench uses).
std::string JsonPathFromArgs(int argc, char** argv);

// CLOCK_MONOTONIC in nanoseconds.
uint64_t MonotonicNs();

// Operations per second of `n` calls of `op(i)`, timed as one loop.
double OpsPerSecond(int n, const std::function<void(int)>& op);

// The best (lowest) mean per side of interleaved A/B rounds.
struct BestOf {
  double hooked = 1e18;  // with the mechanism under test
  double base = 1e18;    // without it, same run
};

// The method of the kernel benches: `rounds` rounds, each running
// `half(true)` and `half(false)` with the order alternating per round, so
// drift on a shared machine hits both sides. Each half times its own ops and
// returns their mean; the first error ends the run.
absl::StatusOr<BestOf> Interleave(int rounds, const std::function<absl::StatusOr<double>(bool hooked)>& half);

}  // namespace taogate::bench
