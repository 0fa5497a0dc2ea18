// governed_pods: which Kubernetes pods are workloads. Each entry is parsed by
// k8s::ParsePodSelector, the one parser of the selector form (selector.h), so
// the bundle accepts exactly what the agent evaluates. That parser names the
// failing field ("pod selector.podSelector.matchExpressions[0].operator:
// unknown operator 'Like' ..."); here the path is walked back down the YAML
// tree to the node, so the error reads like every other bundle error:
//   b.yaml:31:52: governed_pods[0].podSelector.matchExpressions[0].operator: ...
// Before parsing, the entry is walked once with the loader's node budget (so
// aliases cannot make it expensive) and refused if a mapping repeats a key
// (yaml-cpp keeps both; which one the parser sees is not for a policy to say).
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "loader_internal.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/selector.h"
#include "taogate/k8s/selector_proto.h"

namespace taogate::policies::internal {
namespace {

// Deeper than any valid entry (entry.podSelector.matchExpressions[j].values[k]);
// the parser refuses what lies below without reading it.
constexpr int kMaxDepth = 6;

bool CheckTree(Walker& w, const YAML::Node& n, const std::string& path, int depth) {
  if (!w.Visit(n, path)) return false;
  if (depth == kMaxDepth) return true;
  bool good = true;
  if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) good &= CheckTree(w, n[i], At(path, i), depth + 1);
  } else if (n.IsMap()) {
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node k = it->first, v = it->second;  // copies, see Walker::ReadMap
      if (!w.Visit(k, path)) return false;
      std::string key = k.IsScalar() ? k.Scalar() : "?";
      if (k.IsScalar() && !seen.insert(key).second) {
        w.Error(k, Sub(path, key), "duplicate field");
        good = false;
      }
      good &= CheckTree(w, v, Sub(path, key), depth + 1);
    }
  }
  return good;
}

// Follows ".key" and "[i]" steps of `suffix` from `from` as far as they lead.
// Label keys contain dots, so the longest key that fits is taken. (Nodes are
// rebound with reset(): yaml-cpp's operator= writes through to the tree.)
YAML::Node Descend(const YAML::Node& from, std::string_view suffix) {
  YAML::Node n(from);
  while (!suffix.empty()) {
    if (suffix[0] == '[' && n.IsSequence()) {
      size_t close = suffix.find(']');
      if (close == std::string_view::npos) break;
      size_t i = 0;
      for (char c : suffix.substr(1, close - 1)) i = i * 10 + static_cast<size_t>(c - '0');
      if (i >= n.size()) break;
      const YAML::Node& seq = n;
      n.reset(seq[i]);
      suffix.remove_prefix(close + 1);
    } else if (suffix[0] == '.' && n.IsMap()) {
      std::string_view rest = suffix.substr(1);
      YAML::Node best;
      size_t best_len = 0;
      for (auto it = n.begin(); it != n.end(); ++it) {
        const YAML::Node k = it->first;
        if (!k.IsScalar()) continue;
        const std::string& key = k.Scalar();
        bool fits = rest.starts_with(key) && (rest.size() == key.size() ||
                                              rest[key.size()] == '.' || rest[key.size()] == '[');
        if (fits && key.size() >= best_len && !key.empty()) {
          best.reset(it->second);
          best_len = key.size();
        }
      }
      if (best_len == 0) break;
      n.reset(best);
      suffix.remove_prefix(1 + best_len);
    } else {
      break;
    }
  }
  return n;
}

// The first scalar under `n` (keys before values, depth-first) equal to
// `text`.
std::optional<YAML::Node> FindScalar(const YAML::Node& n, std::string_view text, int depth = 0) {
  if (n.IsScalar()) return n.Scalar() == text ? std::optional(n) : std::nullopt;
  if (depth == kMaxDepth) return std::nullopt;
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node k = it->first;
      if (k.IsScalar() && k.Scalar() == text) return k;
    }
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node child = n.IsMap() ? it->second : *it;
    if (auto hit = FindScalar(child, text, depth + 1)) return hit;
  }
  return std::nullopt;
}

// What the message is about: its first 'quoted' text, else what precedes
// its first ": " (a requirement's key).
std::string_view Subject(std::string_view message) {
  if (size_t q = message.find('\''); q != std::string_view::npos) {
    size_t end = message.find('\'', q + 1);
    if (end != std::string_view::npos) return message.substr(q + 1, end - q - 1);
  }
  size_t colon = message.find(": ");
  return colon == std::string_view::npos ? std::string_view() : message.substr(0, colon);
}

void Report(Walker& w, const YAML::Node& entry, const std::string& path, std::string_view error) {
  constexpr std::string_view kPrefix = "pod selector";
  std::string_view suffix, message = error;
  if (error.starts_with(kPrefix)) {
    std::string_view rest = error.substr(kPrefix.size());
    if (size_t sep = rest.find(": "); sep != std::string_view::npos) {
      suffix = rest.substr(0, sep);
      message = rest.substr(sep + 2);
    }
  }
  YAML::Node at = Descend(entry, suffix);
  if (std::string_view subject = Subject(message); !subject.empty()) {
    if (auto hit = FindScalar(at, subject)) at.reset(*hit);
  }
  w.Error(at, StrCat(path, suffix), message);
}

}  // namespace

void ReadGovernedPods(Walker& w, const YAML::Node& n, Bundle& b, Symbols&) {
  auto seq = w.Seq(n, "governed_pods", true);
  if (!seq) return;
  if (seq->size() > k8s::kMaxGovernedPodSelectors) {
    w.Error(n, "governed_pods", StrCat("at most ", k8s::kMaxGovernedPodSelectors, " entries"));
    return;
  }
  for (size_t i = 0; i < seq->size(); ++i) {
    const std::string path = At("governed_pods", i);
    if (!CheckTree(w, (*seq)[i], path, 0)) continue;
    absl::StatusOr<k8s::PodSelector> s = k8s::ParsePodSelector((*seq)[i]);
    if (!s.ok()) {
      Report(w, (*seq)[i], path, std::string(s.status().message()));
      continue;
    }
    b.governed_pods.push_back(*std::move(s));
  }
}

}  // namespace taogate::policies::internal
