// Prometheus text exposition (format 0.0.4) for both daemons: every metric
// family is written with its HELP and TYPE lines by these helpers, so no
// sample is served undocumented. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace taogate::runtime {

// "# HELP name help\n# TYPE name type\n"; the family's samples follow.
std::string Family(std::string_view name, std::string_view type, std::string_view help);

// A family with one unlabelled sample.
std::string Counter(std::string_view name, std::string_view help, uint64_t v);
std::string Gauge(std::string_view name, std::string_view help, int64_t v);

// taogate_build_info{version="...",component="..."} 1, with HELP and TYPE.
std::string BuildInfo(std::string_view component);

}  // namespace taogate::runtime
