#include "taogate/common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

namespace taogate::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<bool> g_plain{false};

spdlog::logger& Sink() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("taogate",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms));
  return buf;
}

}  // namespace

void SetLevel(Level level) { g_level = level; }
void SetPlainText(bool plain) { g_plain = plain; }

void Log(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (level < g_level.load()) return;
  std::string line;
  if (g_plain) {
    line = std::string(LevelName(level)) + " " + std::string(msg);
    for (const auto& [k, v] : fields) line += " " + std::string(k) + "=" + v;
  } else {
    nlohmann::ordered_json j;
    j["ts"] = Timestamp();
    j["level"] = LevelName(level);
    j["msg"] = std::string(msg);
    for (const auto& [k, v] : fields) j[std::string(k)] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  Sink().info(line);
}

}  // namespace taogate::log
