#include "report.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

namespace taogate::bench {

bool Report::Emit(const std::string& json_path) const {
  nlohmann::json out = nlohmann::json::array();
  std::cout << "| metric | params | value | unit | baseline | ratio |\n|---|---|---|---|---|---|\n";
  for (const auto& m : metrics_) {
    nlohmann::json j;
    j["name"] = m.name;
    j["value"] = m.value;
    j["unit"] = m.unit;
    j["baseline"] = m.baseline ? nlohmann::json(*m.baseline) : nlohmann::json(nullptr);
    j["ratio"] = (m.baseline && *m.baseline != 0) ? nlohmann::json(m.value / *m.baseline)
                                                  : nlohmann::json(nullptr);
    j["params"] = m.params;
    out.push_back(j);
    char value[64], base[64] = "", ratio[64] = "";
    std::snprintf(value, sizeof(value), "%.4g", m.value);
    if (m.baseline) {
      std::snprintf(base, sizeof(base), "%.4g", *m.baseline);
      if (*m.baseline != 0) std::snprintf(ratio, sizeof(ratio), "%.4f", m.value / *m.baseline);
    }
    std::cout << "| " << m.name << " | " << m.params.dump() << " | " << value << " | " << m.unit
              << " | " << base << " | " << ratio << " |\n";
  }
  if (json_path.empty()) return true;
  std::ofstream f(json_path, std::ios::trunc);
  f << out.dump(2) << "\n";
  return static_cast<bool>(f);
}

std::string JsonPathFromArgs(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--json") == 0) return argv[i + 1];
  return {};
}

uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

double OpsPerSecond(int n, const std::function<void(int)>& op) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) op(i);
  return n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

absl::StatusOr<BestOf> Interleave(int rounds, const std::function<absl::StatusOr<double>(bool)>& half) {
  BestOf best;
  for (int r = 0; r < rounds; ++r) {
    for (int h = 0; h < 2; ++h) {
      const bool hooked = (r + h) % 2 == 0;
      absl::StatusOr<double> mean = half(hooked);
      if (!mean.ok()) return mean.status();
      double& side = hooked ? best.hooked : best.base;
      side = std::min(side, *mean);
    }
  }
  return best;
}

}  // namespace taogate::bench
