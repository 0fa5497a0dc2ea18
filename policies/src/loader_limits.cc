// Section readers for rate limits, break-glass scopes and hold rules. See
// loader_internal.h.
#include <charconv>
#include <set>

#include "loader_internal.h"
#include "taogate/common/strings.h"

namespace taogate::policies::internal {
namespace {

std::optional<RateLimit> ReadLimit(Walker& w, const Fields& f, std::string_view path) {
  std::string rp = Sub(path, "rate");
  const YAML::Node& rn = f.at("rate").value;
  auto rs = w.String(rn, rp, 32);
  auto burst = w.Uint(f.at("burst").value, Sub(path, "burst"), 1, 1'000'000);
  if (!rs || !burst) return std::nullopt;
  size_t slash = rs->find('/');
  double per = 0;
  if (slash != std::string::npos) {
    std::string_view unit = std::string_view(*rs).substr(slash + 1);
    per = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
  }
  unsigned n = 0;
  auto [p, ec] = std::from_chars(rs->data(), rs->data() + (slash == std::string::npos ? 0 : slash), n);
  if (per == 0 || ec != std::errc() || p != rs->data() + slash || n == 0 || n > 1'000'000) {
    w.Error(rn, rp, "must be N/s, N/m or N/h with 1 <= N <= 1000000");
    return std::nullopt;
  }
  return RateLimit{n / per, static_cast<uint32_t>(*burst)};
}

}  // namespace

void ReadRateLimits(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  Fields f;
  if (!w.ReadMap(n, "rate_limits", {"default", "actors"}, {}, &f)) return;
  if (f.count("default")) {
    Fields d;
    if (w.ReadMap(f["default"].value, "rate_limits.default", {"rate", "burst"}, {"rate", "burst"},
                  &d)) {
      b.rate_limits.default_limit = ReadLimit(w, d, "rate_limits.default");
    }
  }
  if (!f.count("actors")) return;
  auto seq = w.Seq(f["actors"].value, "rate_limits.actors", true);
  if (!seq) return;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("rate_limits.actors", i);
    Fields a;
    if (!w.ReadMap((*seq)[i], path, {"identity", "rate", "burst"}, {"identity", "rate", "burst"},
                   &a)) {
      continue;
    }
    auto id = w.String(a["identity"].value, Sub(path, "identity"), kMaxIdentityLength);
    auto limit = ReadLimit(w, a, path);
    if (!id || !limit) continue;
    if (!s.actors.count(*id)) {
      w.Error(a["identity"].value, Sub(path, "identity"), StrCat("unknown actor '", *id, "'"));
      continue;
    }
    if (!b.rate_limits.per_actor.emplace(*id, *limit).second) {
      w.Error(a["identity"].value, Sub(path, "identity"), "duplicate actor");
    }
  }
}

void ReadBreakGlass(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "break_glass", true);
  if (!seq) return;
  std::set<std::string> ids;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("break_glass", i);
    Fields f;
    if (!w.ReadMap((*seq)[i], path,
                   {"id", "description", "roles", "workloads", "actions", "targets", "max_ttl"},
                   {"id", "roles", "actions", "targets", "max_ttl"}, &f)) {
      continue;
    }
    BreakGlassScope bg;
    auto id = w.Id(f["id"].value, Sub(path, "id"));
    auto desc = Description(w, f, path);
    auto roles = w.Refs(f["roles"].value, Sub(path, "roles"), s.roles, "role", false);
    // Scopes are explicit by design: no "*" for actions or targets.
    auto ac = w.Refs(f["actions"].value, Sub(path, "actions"), s.actions, "action class", false);
    auto tg = w.Refs(f["targets"].value, Sub(path, "targets"), s.targets, "target", false);
    auto ttl = w.Duration(f["max_ttl"].value, Sub(path, "max_ttl"), kMaxBreakGlassTtlSeconds);
    bool good = id && desc && roles && ac && tg && ttl;
    bg.workloads.any = true;
    if (f.count("workloads")) {
      auto wl = w.Refs(f["workloads"].value, Sub(path, "workloads"), s.workloads, "workload", true);
      if (wl) bg.workloads = *wl; else good = false;
    }
    if (id && !ids.insert(*id).second) {
      w.Error(f["id"].value, Sub(path, "id"), StrCat("duplicate break-glass scope '", *id, "'"));
      good = false;
    }
    if (!good) continue;
    bg.id = *id;
    bg.roles = roles->items;
    bg.actions = ac->items;
    bg.targets = tg->items;
    bg.max_ttl_seconds = *ttl;
    b.break_glass.push_back(std::move(bg));
  }
}

void ReadHold(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "hold", true);
  if (!seq) return;
  if (seq->size() > kMaxHoldRules) {
    w.Error(n, "hold", StrCat("more than ", kMaxHoldRules, " hold rules"));
    return;
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("hold", i);
    Fields f;
    if (!w.ReadMap((*seq)[i], path, {"id", "description", "workloads", "targets", "action", "max_hold"},
                   {"id", "workloads", "targets", "action"}, &f)) {
      continue;
    }
    HoldRuleDef h;
    auto id = w.Id(f["id"].value, Sub(path, "id"));
    auto desc = Description(w, f, path);
    auto wl = w.Refs(f["workloads"].value, Sub(path, "workloads"), s.workloads, "workload", true);
    auto tg = w.Refs(f["targets"].value, Sub(path, "targets"), s.targets, "target", true);
    auto action = w.Id(f["action"].value, Sub(path, "action"));
    auto ac = action ? s.actions.find(*action) : s.actions.end();
    if (action && ac == s.actions.end())
      w.Error(f["action"].value, Sub(path, "action"), StrCat("unknown action class '", *action, "'"));
    bool good = id && desc && wl && tg && ac != s.actions.end();
    if (f.count("max_hold")) {
      auto d = w.Duration(f["max_hold"].value, Sub(path, "max_hold"), kMaxHoldSeconds);
      if (d) h.max_hold_ms = *d * 1000; else good = false;
    }
    for (size_t j = 0; tg && j < tg->items.size(); ++j) {
      const TargetDef& t = b.targets[tg->items[j]];
      if (t.networks.empty() && t.names.empty() && t.unix_paths.empty()) {
        w.Error(f["targets"].value, Sub(path, "targets"),
                StrCat("target '", t.id, "' has no networks, hosts or unix_paths: only connects are held"));
        good = false;
      }
    }
    if (id && !ids.insert(*id).second) {
      w.Error(f["id"].value, Sub(path, "id"), StrCat("duplicate hold rule '", *id, "'"));
      good = false;
    }
    if (!good) continue;
    h.id = *id;
    h.description = *desc;
    h.workloads = *wl;
    h.targets = *tg;
    h.action = ac->second;
    b.hold.push_back(std::move(h));
  }
}

}  // namespace taogate::policies::internal
