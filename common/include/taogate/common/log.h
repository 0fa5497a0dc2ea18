// The logging facade: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-21T23:59:00.123Z","level":"info","msg":"agent started","node":"n1"}
// Never call from a BPF hot path; count in a map instead.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace taogate::log {

enum class Level { kDebug, kInfo, kWarn, kError };

using Field = std::pair<std::string_view, std::string>;

void SetLevel(Level level);
// Human-readable "LEVEL msg k=v" instead of JSON (for CLI tools on a terminal).
void SetPlainText(bool plain);
void Log(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kDebug, m, f); }
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kInfo, m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kWarn, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kError, m, f); }

}  // namespace taogate::log
