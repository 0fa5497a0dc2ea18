// Internal: the indexes a Policy evaluates with, built once by Compile().
// Immutable after construction, so concurrent readers need no locking.
//
// Cost model for one Evaluate (n = rules for the action class):
//   actor, action: one hash lookup each;
//   target: one hash lookup per distinct CIDR prefix length of its family,
//           or one per path component for files, one for unix/exec paths;
//   workloads: lookups by cgroup ancestor, node, pod label and attested
//              facts, then a full
//              selector check of the few candidates;
//   rules: a walk over the deny, approval and allow lists of (action, each
//          matched target) and (action, any target), each rule a handful of
//          bit tests; the earliest hit in file order decides.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "taogate/policies/policy.h"

namespace taogate::policies {

class Bits {
 public:
  Bits() = default;
  explicit Bits(size_t n) : words_((n + 63) / 64, 0) {}
  void Set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  bool Test(size_t i) const {
    return i / 64 < words_.size() && (words_[i / 64] >> (i % 64)) & 1;
  }
  bool Intersects(const Bits& o) const {
    size_t n = std::min(words_.size(), o.words_.size());
    for (size_t i = 0; i < n; ++i) {
      if (words_[i] & o.words_[i]) return true;
    }
    return false;
  }

 private:
  std::vector<uint64_t> words_;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct CompiledRule {
  Index rule = 0;  // into Bundle::rules
  bool any_actor = false;
  Bits actors;
  Bits roles;
  bool any_workload = false;
  Bits workloads;
  bool any_target = false;
  Bits targets;
};

struct PrefixKey {
  uint64_t hi = 0, lo = 0;
  bool operator==(const PrefixKey&) const = default;
};
struct PrefixKeyHash {
  size_t operator()(const PrefixKey& k) const {
    return std::hash<uint64_t>{}(k.hi * 0x9e3779b97f4a7c15ULL ^ k.lo);
  }
};
struct NetEntry {
  Index target;
  uint16_t port_lo, port_hi;
  bool tcp, udp;
};
// All CIDRs of one family and prefix length, by masked network address.
struct PrefixTable {
  uint8_t len = 0;
  std::unordered_map<PrefixKey, std::vector<NetEntry>, PrefixKeyHash> nets;
};

struct Policy::Compiled {
  Bundle bundle;
  BundleHash hash{};
  StringMap<Index> actors, actions, roles;
  std::vector<Bits> actor_roles;  // per actor
  std::vector<CompiledRule> rules;
  // Rule positions (into `rules`) by effect, each list in file order.
  struct RuleLists {
    std::vector<uint32_t> deny, approve, allow;
  };
  // Per action class: rules naming target t (by_target[t]) and rules with
  // targets "*" (any_target). A rule that matches a request must be in the
  // lists of one of the request's targets or in any_target, so Evaluate walks
  // only those.
  struct ActionIndex {
    RuleLists any_target;
    std::unordered_map<Index, RuleLists> by_target;
  };
  std::vector<ActionIndex> by_action;
  std::vector<PrefixTable> v4, v6;  // longest prefix first
  StringMap<std::vector<Index>> unix_paths, exec_paths, file_paths, file_dirs;
  // DNS names (canonical), exact match only: never an IP's entries.
  StringMap<std::vector<NetEntry>> names;
  // Workload candidates by primary selector.
  StringMap<std::vector<Index>> wl_by_cgroup, wl_by_node, wl_by_label;
  // Workloads selected by attested facts only, by "ns:<namespace>",
  // "sa:<namespace>/<name>", "exe:<path>" or "sha:<hex>".
  StringMap<std::vector<Index>> wl_by_attested;

  // Fills `out` with the protected targets `t` falls in (sorted, unique);
  // false if `t` is malformed.
  bool ResolveTarget(const TargetRef& t, std::vector<Index>& out) const;
  void ResolveWorkloads(const WorkloadAttributes& w, std::vector<Index>& out) const;
};

std::unique_ptr<Policy::Compiled> Compile(Bundle bundle, const BundleHash& hash);
bool WorkloadMatches(const WorkloadDef& w, const WorkloadAttributes& a);
PrefixKey MaskedKey(const std::array<uint8_t, 16>& addr, uint8_t len);

}  // namespace taogate::policies
