// Section readers for targets, rules, rate limits, break-glass and the top
// level. See loader_internal.h.
#include <charconv>
#include <set>

#include "loader_internal.h"
#include "taogate/common/strings.h"
#include "taogate/policies/targets.h"

namespace taogate::policies::internal {
namespace {

// "5432" or "6000-6100".
bool ParsePortRange(std::string_view s, uint16_t* lo, uint16_t* hi) {
  auto num = [](std::string_view t, uint16_t* out) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || p != t.data() + t.size() || v == 0 || v > 65535) {
      return false;
    }
    *out = static_cast<uint16_t>(v);
    return true;
  };
  size_t dash = s.find('-');
  if (dash == std::string_view::npos) return num(s, lo) && num(s, hi);
  return num(s.substr(0, dash), lo) && num(s.substr(dash + 1), hi) && *lo <= *hi;
}

bool ReadNetwork(Walker& w, const YAML::Node& n, std::string_view path, TargetDef& t) {
  Fields f;
  if (!w.ReadMap(n, path, {"cidrs", "hosts", "ports", "protocols"}, {"ports", "protocols"}, &f)) {
    return false;
  }
  bool good = true;
  if (!f.count("cidrs") && !f.count("hosts")) {
    w.Error(n, path, "a network needs cidrs or hosts");
    good = false;
  }
  std::vector<NetRange> cidrs;
  std::string cp = Sub(path, "cidrs");
  auto cv = f.count("cidrs") ? w.StringSeq(f["cidrs"].value, cp, 64, false)
                             : std::optional<std::vector<std::pair<std::string, YAML::Node>>>(std::in_place);
  if (!cv) good = false;
  for (size_t i = 0; cv && i < cv->size(); ++i) {
    auto r = ParseCidrOrNode((*cv)[i].first);
    if (!r.ok()) {
      w.Error((*cv)[i].second, At(cp, i), std::string(r.status().message()));
      good = false;
      continue;
    }
    cidrs.insert(cidrs.end(), r->begin(), r->end());
  }
  std::vector<std::string> hosts;  // DNS names, canonical (docs/names.md)
  std::string hp = Sub(path, "hosts");
  auto hv = f.count("hosts") ? w.StringSeq(f["hosts"].value, hp, target::kMaxHostName + 1, false)
                             : std::optional<std::vector<std::pair<std::string, YAML::Node>>>(std::in_place);
  if (!hv) good = false;
  for (size_t i = 0; hv && i < hv->size(); ++i) {
    auto h = target::ParseHostName((*hv)[i].first);
    if (!h.ok()) {
      w.Error((*hv)[i].second, At(hp, i), std::string(h.status().message()));
      good = false;
      continue;
    }
    hosts.push_back(*h);
  }
  std::vector<std::pair<uint16_t, uint16_t>> ports;
  std::string pp = Sub(path, "ports");
  auto pv = w.StringSeq(f["ports"].value, pp, 16, false);
  if (!pv) good = false;
  for (size_t i = 0; pv && i < pv->size(); ++i) {
    uint16_t lo, hi;
    if (!ParsePortRange((*pv)[i].first, &lo, &hi)) {
      w.Error((*pv)[i].second, At(pp, i), "must be a port 1-65535 or a range LO-HI");
      good = false;
      continue;
    }
    ports.emplace_back(lo, hi);
  }
  bool tcp = false, udp = false;
  std::string prp = Sub(path, "protocols");
  auto prv = w.StringSeq(f["protocols"].value, prp, 8, false);
  if (!prv) good = false;
  for (size_t i = 0; prv && i < prv->size(); ++i) {
    const std::string& p = (*prv)[i].first;
    bool& flag = p == "tcp" ? tcp : udp;
    if ((p != "tcp" && p != "udp") || flag) {
      w.Error((*prv)[i].second, At(prp, i), "must be tcp or udp, each at most once");
      good = false;
      continue;
    }
    flag = true;
  }
  if (!good) return false;
  for (const auto& c : cidrs) {
    for (auto [lo, hi] : ports) {
      NetRange r = c;
      r.port_lo = lo;
      r.port_hi = hi;
      r.tcp = tcp;
      r.udp = udp;
      t.networks.push_back(r);
    }
  }
  for (const auto& h : hosts)
    for (auto [lo, hi] : ports) t.names.push_back(NameRange{h, lo, hi, tcp, udp});
  return true;
}

bool ReadPaths(Walker& w, const Fields& f, std::string_view key, std::string_view path,
               bool allow_dir, std::vector<std::string>& out) {
  auto it = f.find(key);
  if (it == f.end()) return true;
  std::string kp = Sub(path, key);
  auto v = w.StringSeq(it->second.value, kp, kMaxPathLength, false);
  if (!v) return false;
  bool good = true;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!IsCanonicalPath((*v)[i].first, allow_dir)) {
      w.Error((*v)[i].second, At(kp, i),
              allow_dir ? "must be an absolute canonical path (a trailing / means a directory)"
                        : "must be an absolute canonical path");
      good = false;
      continue;
    }
    out.push_back((*v)[i].first);
  }
  return good;
}

// `mode: enforce | audit` (docs/audit-mode.md). Audit covers what the
// cgroup gate decides (networks, unix_paths); file and exec rules are
// enforced by kill or the LSM, which have no audit mode, so an audited
// target naming them is refused rather than silently enforced.
bool ReadMode(Walker& w, const YAML::Node& n, const std::string& path, TargetDef& t) {
  std::optional<bool> audit = ReadAuditMode(w, n, path);
  if (!audit) return false;
  t.audit = *audit;
  if (t.audit && (!t.file_paths.empty() || !t.binaries.empty())) {
    w.Error(n, path, "audit mode covers networks and unix_paths only; move file_paths and binaries to an "
                     "enforced target");
    return false;
  }
  return true;
}

}  // namespace

std::optional<bool> ReadAuditMode(Walker& w, const YAML::Node& n, const std::string& path) {
  auto v = w.String(n, path, 16);
  if (!v) return std::nullopt;
  if (*v != "enforce" && *v != "audit") {
    w.Error(n, path, StrCat("unknown mode '", *v, "' (enforce or audit)"));
    return std::nullopt;
  }
  return *v == "audit";
}

void ReadTargets(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "targets", true);
  if (!seq) return;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("targets", i);
    Fields f;
    w.ReadMap((*seq)[i], path,
              {"id", "description", "mode", "networks", "unix_paths", "file_paths", "binaries"}, {"id"},
              &f);
    if (!f.count("id")) continue;
    TargetDef t;
    auto id = w.Id(f["id"].value, Sub(path, "id"));
    auto desc = Description(w, f, path);
    bool good = id && desc;
    if (auto it = f.find("networks"); it != f.end()) {
      std::string np = Sub(path, "networks");
      auto nets = w.Seq(it->second.value, np, false);
      if (!nets) good = false;
      for (size_t j = 0; nets && j < nets->size(); ++j) {
        good = ReadNetwork(w, (*nets)[j], At(np, j), t) && good;
      }
    }
    good = ReadPaths(w, f, "unix_paths", path, false, t.unix_paths) && good;
    good = ReadPaths(w, f, "file_paths", path, true, t.file_paths) && good;
    good = ReadPaths(w, f, "binaries", path, false, t.binaries) && good;
    if (good && t.networks.empty() && t.names.empty() && t.unix_paths.empty() && t.file_paths.empty() &&
        t.binaries.empty()) {
      w.Error((*seq)[i], path, "a target needs networks, unix_paths, file_paths or binaries");
      good = false;
    }
    if (auto it = f.find("mode"); it != f.end()) good = ReadMode(w, it->second.value, Sub(path, "mode"), t) && good;
    if (!id) continue;
    if (!s.targets.emplace(*id, b.targets.size()).second) {
      w.Error(f["id"].value, Sub(path, "id"), StrCat("duplicate target '", *id, "'"));
      continue;
    }
    // Kept even if bad so references do not cascade; the bundle is refused.
    t.id = *id;
    t.description = desc.value_or("");
    b.targets.push_back(std::move(t));
  }
}

void ReadRules(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "rules", true);
  if (!seq) return;
  if (seq->size() > kMaxRules) {
    w.Error(n, "rules", StrCat("more than ", kMaxRules, " rules"));
    return;
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("rules", i);
    Fields f;
    if (!w.ReadMap((*seq)[i], path,
                   {"id", "description", "effect", "actors", "roles", "workloads", "actions",
                    "targets", "ttl", "approval"},
                   {"id", "effect", "workloads", "actions", "targets"}, &f) &&
        // Unknown keys alone do not stop us: check the rest of the rule too.
        !(f.count("id") && f.count("effect") && f.count("workloads") && f.count("actions") &&
          f.count("targets"))) {
      continue;
    }
    RuleDef r;
    auto id = w.Id(f["id"].value, Sub(path, "id"));
    auto desc = Description(w, f, path);
    bool good = id && desc;
    if (id && !ids.insert(*id).second) {
      w.Error(f["id"].value, Sub(path, "id"), StrCat("duplicate rule '", *id, "'"));
      good = false;
    }
    const YAML::Node& en = f["effect"].value;
    auto effect = w.String(en, Sub(path, "effect"), 32);
    if (effect == "allow") r.effect = RuleEffect::kAllow;
    else if (effect == "deny") r.effect = RuleEffect::kDeny;
    else if (effect == "require_approval") r.effect = RuleEffect::kRequireApproval;
    else {
      if (effect) w.Error(en, Sub(path, "effect"), "must be allow, deny or require_approval");
      good = false;
    }
    if (!f.count("actors") && !f.count("roles")) {
      w.Error((*seq)[i], Sub(path, "actors"), "a rule needs actors or roles (or both)");
      good = false;
    }
    if (f.count("actors")) {
      auto v = w.Refs(f["actors"].value, Sub(path, "actors"), s.actors, "actor", true);
      if (v) r.actors = *v; else good = false;
    }
    if (f.count("roles")) {
      auto v = w.Refs(f["roles"].value, Sub(path, "roles"), s.roles, "role", false);
      if (v) r.roles = v->items; else good = false;
    }
    auto wl = w.Refs(f["workloads"].value, Sub(path, "workloads"), s.workloads, "workload", true);
    auto ac = w.Refs(f["actions"].value, Sub(path, "actions"), s.actions, "action class", true);
    auto tg = w.Refs(f["targets"].value, Sub(path, "targets"), s.targets, "target", true);
    if (wl) r.workloads = *wl; else good = false;
    if (ac) r.actions = *ac; else good = false;
    if (tg) r.targets = *tg; else good = false;
    if (f.count("ttl")) {
      auto ttl = w.Duration(f["ttl"].value, Sub(path, "ttl"), kMaxTtlSeconds);
      if (ttl) r.ttl_seconds = *ttl; else good = false;
    }
    bool wants_approval = effect == "require_approval";
    if (f.count("approval") != static_cast<size_t>(wants_approval)) {
      if (wants_approval) {
        w.Error((*seq)[i], Sub(path, "approval"), "required when effect is require_approval");
      } else if (effect) {
        w.Error(f["approval"].key_mark, Sub(path, "approval"),
                "only allowed when effect is require_approval");
      }
      good = false;
    } else if (wants_approval) {
      std::string ap = Sub(path, "approval");
      Fields af;
      if (!w.ReadMap(f["approval"].value, ap, {"roles", "count"}, {"roles", "count"}, &af)) {
        continue;
      }
      auto roles = w.Refs(af["roles"].value, Sub(ap, "roles"), s.roles, "role", false);
      auto count = w.Uint(af["count"].value, Sub(ap, "count"), 1, kMaxApprovalCount);
      if (!roles || !count) continue;
      // The approvers who could ever satisfy this: actors with a key and a role.
      size_t eligible = 0;
      for (const auto& a : b.actors) {
        bool has_role = false;
        for (Index ri : a.roles) {
          for (Index want : roles->items) has_role = has_role || ri == want;
        }
        eligible += has_role && a.approver();
      }
      if (*count > eligible) {
        w.Error(af["count"].value, Sub(ap, "count"),
                StrCat("needs ", *count, " distinct approvers but only ", eligible,
                       " actors with those roles have approver_keys or webauthn_credentials"));
        good = false;
      }
      r.approval = ApprovalRequirement{roles->items, static_cast<uint32_t>(*count)};
    }
    if (!good) continue;
    r.id = *id;
    r.description = *desc;
    b.rules.push_back(std::move(r));
  }
}

void ReadTopLevel(Walker& w, std::string_view bytes, Bundle& b) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(bytes));
  } catch (const YAML::Exception& e) {
    w.Error(e.mark, "", StrCat("YAML syntax error: ", e.msg));
    return;
  } catch (const std::exception& e) {
    w.Error(YAML::Mark(), "", StrCat("YAML error: ", e.what()));
    return;
  }
  try {
    Fields f;
    if (!w.ReadMap(root, "",
                   {"version", "name", "description", "roles", "actors", "workloads", "targets",
                    "action_classes", "rules", "rate_limits", "break_glass", "governed_pods", "hold"},
                   {"version", "name"}, &f)) {
      // Keep going with what is there: more errors in one run.
      if (!root.IsMap()) return;
    }
    if (f.count("version")) {
      auto v = w.Uint(f["version"].value, "version", kBundleVersion, kBundleVersion);
      if (v) b.version = static_cast<uint32_t>(*v);
    }
    if (f.count("name")) {
      auto v = w.Id(f["name"].value, "name");
      if (v) b.name = *v;
    }
    if (f.count("description")) {
      auto v = w.String(f["description"].value, "description", 4096);
      if (v) b.description = *v;
    }
    Symbols s;
    auto section = [&](std::string_view key, auto reader) {
      auto it = f.find(key);
      if (it != f.end()) reader(w, it->second.value, b, s);
    };
    section("roles", ReadRoles);
    section("action_classes", ReadActionClasses);
    section("targets", ReadTargets);
    section("workloads", ReadWorkloads);
    section("actors", ReadActors);
    section("rules", ReadRules);
    section("rate_limits", ReadRateLimits);
    section("break_glass", ReadBreakGlass);
    section("governed_pods", ReadGovernedPods);
    section("hold", ReadHold);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on internal inconsistencies; never let it escape.
    w.Error(e.mark, "", StrCat("YAML error: ", e.msg));
  }
}

}  // namespace taogate::policies::internal
