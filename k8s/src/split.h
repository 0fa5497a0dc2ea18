// Private to taogate::k8s: std::string_view splitting (Debian's abseil
// StrSplit takes only absl::string_view).
#pragma once

#include <string_view>
#include <vector>

namespace taogate::k8s {

// `s` cut at every `sep` ("" gives {""}, "a." gives {"a", ""}).
inline std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace taogate::k8s
