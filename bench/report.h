// Benchmark results in the one format scripts/bench merges:
//   [{"name": "redeem_p99", "value": 812.0, "unit": "us", "baseline": null,
//     "ratio": null, "params": {"workloads": 8}}, ...]
// `baseline` is the comparison figure measured in the same run (e.g. connect()
// without hooks) and `ratio` = value / baseline.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

}  // namespace taogate::bench
