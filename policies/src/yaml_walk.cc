#include "yaml_walk.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "taogate/common/strings.h"

namespace taogate::policies::internal {

std::string Sub(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : StrCat(path, ".", key);
}
std::string At(std::string_view path, size_t index) { return StrCat(path, "[", index, "]"); }

std::optional<std::string> Description(Walker& w, const Fields& f, std::string_view path) {
  auto it = f.find("description");
  if (it == f.end()) return std::string();
  return w.String(it->second.value, Sub(path, "description"), 4096);
}


void Walker::Error(const YAML::Mark& at, std::string_view path, std::string_view message) {
  // Cap the report so a hostile file cannot make the error list huge.
  if (errors_.size() >= 200) return;
  ValidationError e;
  e.file = file_;
  e.line = at.line >= 0 ? at.line + 1 : 0;
  e.column = at.column >= 0 ? at.column + 1 : 0;
  e.path = std::string(path);
  e.message = std::string(message);
  errors_.push_back(std::move(e));
  if (errors_.size() == 200) {
    errors_.back().message += " (further errors suppressed)";
  }
}

bool Walker::Visit(const YAML::Node& n, std::string_view path) {
  if (budget_ == 0) return false;
  if (--budget_ == 0) {
    Error(n, path, "bundle too large to validate (node budget exhausted; aliases?)");
    return false;
  }
  return true;
}

bool Walker::ReadMap(const YAML::Node& n, std::string_view path,
                     std::initializer_list<std::string_view> allowed,
                     std::initializer_list<std::string_view> required, Fields* out) {
  if (!Visit(n, path)) return false;
  if (!n.IsMap()) {
    Error(n, path, "must be a mapping");
    return false;
  }
  bool good = true;
  for (auto it = n.begin(); it != n.end(); ++it) {
    // yaml-cpp's iterator yields its pair by value: copy the nodes out (a
    // reference to it->first dangles at the end of the statement).
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    if (!k.IsScalar()) {
      Error(k, path, "keys must be plain strings");
      good = false;
      continue;
    }
    const std::string& key = k.Scalar();
    std::string sub = Sub(path, key);
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      Error(k, sub, "unknown field");
      good = false;
      continue;
    }
    if (out->count(key)) {
      Error(k, sub, "duplicate field");
      good = false;
      continue;
    }
    (*out)[key] = Field{k.Mark(), v};
  }
  for (std::string_view req : required) {
    if (!out->count(req)) {
      Error(n, Sub(path, req), "required field is missing");
      good = false;
    }
  }
  return good;
}

std::optional<std::string> Walker::String(const YAML::Node& n, std::string_view path,
                                          size_t max_len) {
  if (!Visit(n, path)) return std::nullopt;
  if (!n.IsScalar()) {
    Error(n, path, "must be a string");
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  if (s.empty()) {
    Error(n, path, "must not be empty");
    return std::nullopt;
  }
  if (s.size() > max_len) {
    Error(n, path, StrCat("longer than ", max_len, " bytes"));
    return std::nullopt;
  }
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      Error(n, path, "control characters are not allowed");
      return std::nullopt;
    }
  }
  return s;
}

std::optional<std::string> Walker::Id(const YAML::Node& n, std::string_view path) {
  auto s = String(n, path, kMaxIdLength);
  if (!s) return std::nullopt;
  auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == ':';
  };
  bool good = ok_char((*s)[0]) && (*s)[0] != '.' && (*s)[0] != '_' && (*s)[0] != '-' &&
              (*s)[0] != ':' && std::all_of(s->begin(), s->end(), ok_char);
  if (!good) {
    Error(n, path, StrCat("'", *s, "' is not a valid id ([A-Za-z0-9][A-Za-z0-9._:-]*)"));
    return std::nullopt;
  }
  return s;
}

std::optional<uint64_t> Walker::Uint(const YAML::Node& n, std::string_view path, uint64_t lo,
                                     uint64_t hi) {
  if (!Visit(n, path)) return std::nullopt;
  if (!n.IsScalar()) {
    Error(n, path, "must be an integer");
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
    Error(n, path, StrCat("'", s, "' is not a decimal integer"));
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    Error(n, path, StrCat("must be between ", lo, " and ", hi));
    return std::nullopt;
  }
  return v;
}

std::optional<uint32_t> Walker::Duration(const YAML::Node& n, std::string_view path,
                                         uint32_t max_seconds) {
  if (!Visit(n, path)) return std::nullopt;
  if (!n.IsScalar() || n.Scalar().size() < 2) {
    Error(n, path, "must be a duration like 30s, 5m or 1h");
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  uint64_t unit = s.back() == 's' ? 1 : s.back() == 'm' ? 60 : s.back() == 'h' ? 3600 : 0;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size() - 1, v);
  if (unit == 0 || ec != std::errc() || p != s.data() + s.size() - 1) {
    Error(n, path, StrCat("'", s, "' is not a duration like 30s, 5m or 1h"));
    return std::nullopt;
  }
  if (v == 0 || v > max_seconds || v * unit > max_seconds) {
    Error(n, path, StrCat("must be between 1s and ", max_seconds, "s"));
    return std::nullopt;
  }
  return static_cast<uint32_t>(v * unit);
}

std::optional<std::vector<YAML::Node>> Walker::Seq(const YAML::Node& n, std::string_view path,
                                                   bool allow_empty) {
  if (!Visit(n, path)) return std::nullopt;
  if (!n.IsSequence()) {
    Error(n, path, "must be a list");
    return std::nullopt;
  }
  if (!allow_empty && n.size() == 0) {
    Error(n, path, "must not be empty");
    return std::nullopt;
  }
  std::vector<YAML::Node> out;
  out.reserve(n.size());
  for (const auto& e : n) out.push_back(e);
  return out;
}

std::optional<std::vector<std::pair<std::string, YAML::Node>>> Walker::StringSeq(
    const YAML::Node& n, std::string_view path, size_t max_len, bool allow_empty) {
  auto seq = Seq(n, path, allow_empty);
  if (!seq) return std::nullopt;
  std::vector<std::pair<std::string, YAML::Node>> out;
  bool good = true;
  for (size_t i = 0; i < seq->size(); ++i) {
    auto s = String((*seq)[i], At(path, i), max_len);
    if (!s) {
      good = false;
      continue;
    }
    out.emplace_back(std::move(*s), (*seq)[i]);
  }
  if (!good) return std::nullopt;
  return out;
}

std::optional<Selection> Walker::Refs(const YAML::Node& n, std::string_view path,
                                      const SymbolTable& table, std::string_view kind,
                                      bool allow_any) {
  auto items = StringSeq(n, path, kMaxIdentityLength, false);
  if (!items) return std::nullopt;
  Selection sel;
  std::set<Index> seen;
  bool good = true;
  for (size_t i = 0; i < items->size(); ++i) {
    const auto& [name, node] = (*items)[i];
    if (name == "*") {
      if (!allow_any) {
        Error(node, At(path, i), StrCat("\"*\" is not allowed here; list the ", kind, "s"));
        good = false;
      } else if (items->size() != 1) {
        Error(node, At(path, i), "\"*\" must be the only entry");
        good = false;
      }
      sel.any = true;
      continue;
    }
    auto it = table.find(name);
    if (it == table.end()) {
      Error(node, At(path, i), StrCat("unknown ", kind, " '", name, "'"));
      good = false;
      continue;
    }
    if (!seen.insert(it->second).second) {
      Error(node, At(path, i), StrCat("duplicate ", kind, " '", name, "'"));
      good = false;
    }
  }
  if (!good) return std::nullopt;
  if (sel.any) return sel;
  sel.items.assign(seen.begin(), seen.end());
  return sel;
}

}  // namespace taogate::policies::internal
