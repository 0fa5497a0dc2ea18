// Internal: a checked walk over a yaml-cpp tree that records ValidationErrors
// with positions instead of throwing. One Walker per load; not thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "taogate/policies/bundle.h"
#include "taogate/policies/loader.h"

namespace taogate::policies::internal {

struct Field {
  YAML::Mark key_mark;
  YAML::Node value;
};
using Fields = std::map<std::string, Field, std::less<>>;

// id -> index, for resolving references.
using SymbolTable = std::unordered_map<std::string, Index>;

class Walker {
 public:
  explicit Walker(std::string_view file) : file_(file) {}

  void Error(const YAML::Mark& at, std::string_view path, std::string_view message);
  void Error(const YAML::Node& at, std::string_view path, std::string_view message) {
    Error(at.Mark(), path, message);
  }
  bool ok() const { return errors_.empty(); }
  std::vector<ValidationError>& errors() { return errors_; }

  // Counts visited nodes; false (and one error) once the budget is spent, so
  // YAML aliases cannot make a small file expensive to walk.
  bool Visit(const YAML::Node& n, std::string_view path);

  // `n` must be a mapping whose keys are unique scalars from `allowed` and
  // which has every key in `required`. Fills `out` with what is there.
  bool ReadMap(const YAML::Node& n, std::string_view path,
               std::initializer_list<std::string_view> allowed,
               std::initializer_list<std::string_view> required, Fields* out);

  // A scalar string (1..max_len bytes, no control characters).
  std::optional<std::string> String(const YAML::Node& n, std::string_view path,
                                    size_t max_len);
  // An id: [A-Za-z0-9][A-Za-z0-9._:-]*, at most kMaxIdLength.
  std::optional<std::string> Id(const YAML::Node& n, std::string_view path);
  // A decimal unsigned integer in [lo, hi].
  std::optional<uint64_t> Uint(const YAML::Node& n, std::string_view path, uint64_t lo,
                               uint64_t hi);
  // "30s", "5m", "1h" -> seconds in [1, max_seconds].
  std::optional<uint32_t> Duration(const YAML::Node& n, std::string_view path,
                                   uint32_t max_seconds);
  // A sequence (possibly empty if allow_empty); returns its elements.
  std::optional<std::vector<YAML::Node>> Seq(const YAML::Node& n, std::string_view path,
                                             bool allow_empty);
  // A sequence of scalars, each <= max_len.
  std::optional<std::vector<std::pair<std::string, YAML::Node>>> StringSeq(
      const YAML::Node& n, std::string_view path, size_t max_len, bool allow_empty);

  // References into `table` named `kind` in messages. "*" alone means any, if
  // allow_any. Unknown names and duplicates are errors.
  std::optional<Selection> Refs(const YAML::Node& n, std::string_view path,
                                const SymbolTable& table, std::string_view kind,
                                bool allow_any);

 private:
  std::string file_;
  std::vector<ValidationError> errors_;
  uint64_t budget_ = 5'000'000;  // a 100,000-rule bundle needs about 2M
};

std::string Sub(std::string_view path, std::string_view key);
// The optional `description` field of `f` ("" if absent).
std::optional<std::string> Description(Walker& w, const Fields& f, std::string_view path);
std::string At(std::string_view path, size_t index);

}  // namespace taogate::policies::internal
