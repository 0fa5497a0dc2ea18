// DiffDefinitions: what changed in the definitions the cells do not show
// (target ranges, workload selectors, deny rules, rate limits, approver keys,
// governed pods). Directions are explained in policy_diff.h.
#include <algorithm>
#include <set>

#include "policy_diff_internal.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/policies/policy_test.h"

namespace taogate::policies::diff_internal {
namespace {

using Names = std::vector<std::string>;

bool Contains(const Names& sorted, const std::string& s) {
  return std::binary_search(sorted.begin(), sorted.end(), s);
}

Names Minus(const Names& a, const Names& b) {  // in a, not in b
  Names out;
  for (const auto& s : a)
    if (std::find(b.begin(), b.end(), s) == b.end()) out.push_back(s);
  return out;
}

// ---- targets: one entry per range or path, compared by containment.
struct Entry {
  int kind = 0;  // 0 net, 1 name, 2 unix, 3 file, 4 exec
  NetRange net;
  NameRange name;
  std::string path;
  std::string text;
};

std::string Ports(uint16_t lo, uint16_t hi) {
  return lo == hi ? std::to_string(lo) : StrCat(lo, "-", hi);
}
std::string Protos(bool tcp, bool udp) { return tcp && udp ? "tcp+udp" : tcp ? "tcp" : "udp"; }

std::vector<Entry> Entries(const TargetDef& t) {
  std::vector<Entry> out;
  for (const NetRange& r : t.networks) {
    if (r.node && r.family == 6) continue;  // `node` is one entry
    out.push_back({0, r, {}, {},
                   StrCat(Protos(r.tcp, r.udp), " ", CidrText(r), ":", Ports(r.port_lo, r.port_hi))});
  }
  for (const NameRange& r : t.names) {
    out.push_back({1, {}, r, {},
                   StrCat(Protos(r.tcp, r.udp), " ", r.host, ":", Ports(r.port_lo, r.port_hi))});
  }
  for (const auto& p : t.unix_paths) out.push_back({2, {}, {}, p, "unix " + p});
  for (const auto& p : t.file_paths) out.push_back({3, {}, {}, p, "file " + p});
  for (const auto& p : t.binaries) out.push_back({4, {}, {}, p, "exec " + p});
  return out;
}

bool PortsProtosCover(uint16_t olo, uint16_t ohi, bool otcp, bool oudp, uint16_t ilo,
                      uint16_t ihi, bool itcp, bool iudp) {
  return olo <= ilo && ihi <= ohi && (otcp || !itcp) && (oudp || !iudp);
}

bool Covers(const Entry& o, const Entry& i) {
  if (o.kind != i.kind) return false;
  switch (o.kind) {
    case 0: {
      if (o.net.family != i.net.family || o.net.node != i.net.node ||
          o.net.prefix_len > i.net.prefix_len) {
        return false;
      }
      for (int bit = 0; bit < o.net.prefix_len; ++bit) {
        uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
        if ((o.net.addr[bit / 8] & m) != (i.net.addr[bit / 8] & m)) return false;
      }
      return PortsProtosCover(o.net.port_lo, o.net.port_hi, o.net.tcp, o.net.udp, i.net.port_lo,
                              i.net.port_hi, i.net.tcp, i.net.udp);
    }
    case 1:
      return o.name.host == i.name.host &&
             PortsProtosCover(o.name.port_lo, o.name.port_hi, o.name.tcp, o.name.udp,
                              i.name.port_lo, i.name.port_hi, i.name.tcp, i.name.udp);
    case 3:
      return o.path == i.path || (o.path.back() == '/' && PathUnder(i.path, o.path));
    default:
      return o.path == i.path;
  }
}

// Texts of the entries of `a` no entry of `b` covers.
Names Uncovered(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  Names out;
  for (const Entry& e : a) {
    if (std::none_of(b.begin(), b.end(), [&](const Entry& o) { return Covers(o, e); })) {
      out.push_back(e.text);
    }
  }
  return out;
}

void DiffTargets(const Bundle& b, const Bundle& a, const Names& granted,
                 std::vector<AuthorityChange>& out) {
  std::map<std::string, const TargetDef*> before, after;
  for (const auto& t : b.targets) before[t.id] = &t;
  for (const auto& t : a.targets) after[t.id] = &t;
  for (const auto& [id, t] : before) {
    auto it = after.find(id);
    if (it == after.end()) {
      out.push_back({true, "target", StrCat("target ", id),
                     StrCat("removed: no longer protected, open to every workload: ",
                            Join(Uncovered(Entries(*t), {})))});
      continue;
    }
    auto eb = Entries(*t), ea = Entries(*it->second);
    Names lost = Uncovered(eb, ea), gained = Uncovered(ea, eb);
    if (!lost.empty()) {
      out.push_back({true, "target", StrCat("target ", id),
                     StrCat("narrowed: no longer protected, open to every workload: ", Join(lost))});
    }
    if (!gained.empty()) {
      bool g = Contains(granted, id);
      out.push_back({g, "target", StrCat("target ", id),
                     StrCat("widened: now also covers ", Join(gained),
                            g ? " (reachable by every grant on it)" : " (protected; no grant on it)")});
    }
  }
  for (const auto& [id, t] : after) {
    if (!before.count(id)) {
      out.push_back({false, "target", StrCat("target ", id),
                     StrCat("added: now protected: ", Join(Uncovered(Entries(*t), {})))});
    }
  }
}

// ---- workloads: a selector list gaining values (or dropped) widens.
void DiffWorkloads(const Bundle& b, const Bundle& a, const Names& granted,
                   std::vector<AuthorityChange>& out) {
  std::set<std::string> denied;  // workloads some deny rule names
  for (const RuleDef& r : a.rules) {
    if (r.effect != RuleEffect::kDeny || r.workloads.any) continue;
    for (Index w : r.workloads.items) denied.insert(a.workloads[w].id);
  }
  for (const WorkloadDef& wa : a.workloads) {
    auto wb = std::find_if(b.workloads.begin(), b.workloads.end(),
                           [&](const WorkloadDef& w) { return w.id == wa.id; });
    if (wb == b.workloads.end()) continue;  // new: its cells say what it may do
    Names wider, narrower;
    auto list = [&](const char* key, const Names& lb, const Names& la) {
      if (lb.empty() && la.empty()) return;
      if (la.empty()) return wider.push_back(StrCat(key, " dropped (any)"));
      if (lb.empty()) return narrower.push_back(StrCat(key, " added [", Join(la), "]"));
      if (auto g = Minus(la, lb); !g.empty()) wider.push_back(StrCat(key, " +[", Join(g), "]"));
      if (auto l = Minus(lb, la); !l.empty()) narrower.push_back(StrCat(key, " -[", Join(l), "]"));
    };
    list("nodes", wb->nodes, wa.nodes);
    list("cgroup_paths", wb->cgroup_paths, wa.cgroup_paths);
    list("namespaces", wb->namespaces, wa.namespaces);
    list("service_accounts", wb->service_accounts, wa.service_accounts);
    list("exe_paths", wb->exe_paths, wa.exe_paths);
    list("exe_sha256", wb->exe_sha256, wa.exe_sha256);
    for (const auto& [k, v] : wb->pod_labels) {
      auto it = wa.pod_labels.find(k);
      if (it == wa.pod_labels.end() || it->second != v) {
        wider.push_back(StrCat("pod_labels ", k, "=", v, " dropped"));
      }
    }
    for (const auto& [k, v] : wa.pod_labels) {
      auto it = wb->pod_labels.find(k);
      if (it == wb->pod_labels.end() || it->second != v) {
        narrower.push_back(StrCat("pod_labels ", k, "=", v, " required"));
      }
    }
    std::string subject = StrCat("workload ", wa.id);
    if (!wider.empty()) {
      bool g = Contains(granted, wa.id);
      out.push_back({g, "workload", subject,
                     StrCat("selectors widened (", g ? "more requests get its grants" : "more requests denied",
                            "): ", Join(wider))});
    }
    if (!narrower.empty()) {
      bool d = denied.count(wa.id) > 0;
      out.push_back({d, "workload", subject,
                     StrCat("selectors narrowed (", d ? "its deny rules cover less" : "fewer requests get its grants",
                            "): ", Join(narrower))});
    }
  }
}

// ---- deny rules, by id; each dimension's names ("*" for any).
Names Dim(const Bundle& b, const Selection& s, int kind) {
  if (s.any) return {"*"};
  Names out;
  for (Index i : s.items) {
    out.push_back(kind == 0   ? b.actors[i].identity
                  : kind == 1 ? b.workloads[i].id
                  : kind == 2 ? b.action_classes[i].id
                              : b.targets[i].id);
  }
  return out;
}

void DiffDenyRules(const Bundle& b, const Bundle& a, std::vector<AuthorityChange>& out) {
  auto denies = [](const Bundle& x) {
    std::map<std::string, const RuleDef*> m;
    for (const RuleDef& r : x.rules)
      if (r.effect == RuleEffect::kDeny) m[r.id] = &r;
    return m;
  };
  auto db = denies(b), da = denies(a);
  for (const auto& [id, rb] : db) {
    auto it = da.find(id);
    if (it == da.end()) {
      out.push_back({true, "deny_rule", StrCat("deny rule ", id), "removed"});
      continue;
    }
    const RuleDef& ra = *it->second;
    Names wider, narrower;
    auto dim = [&](const char* key, const Names& nb, const Names& na) {
      bool any_b = nb == Names{"*"}, any_a = na == Names{"*"};
      if (any_b && !any_a) narrower.push_back(StrCat(key, " * -> [", Join(na), "]"));
      if (any_a && !any_b) wider.push_back(StrCat(key, " [", Join(nb), "] -> *"));
      if (any_a || any_b) return;
      if (auto l = Minus(nb, na); !l.empty()) narrower.push_back(StrCat(key, " -[", Join(l), "]"));
      if (auto g = Minus(na, nb); !g.empty()) wider.push_back(StrCat(key, " +[", Join(g), "]"));
    };
    auto roles = [](const Bundle& x, const RuleDef& r) {
      Names n;
      for (Index i : r.roles) n.push_back(x.roles[i].id);
      return n;
    };
    dim("actors", Dim(b, rb->actors, 0), Dim(a, ra.actors, 0));
    dim("roles", roles(b, *rb), roles(a, ra));
    dim("workloads", Dim(b, rb->workloads, 1), Dim(a, ra.workloads, 1));
    dim("actions", Dim(b, rb->actions, 2), Dim(a, ra.actions, 2));
    dim("targets", Dim(b, rb->targets, 3), Dim(a, ra.targets, 3));
    std::string subject = StrCat("deny rule ", id);
    if (!narrower.empty()) out.push_back({true, "deny_rule", subject, "narrowed: " + Join(narrower)});
    if (!wider.empty()) out.push_back({false, "deny_rule", subject, "widened: " + Join(wider)});
  }
  for (const auto& [id, r] : da) {
    if (!db.count(id)) out.push_back({false, "deny_rule", StrCat("deny rule ", id), "added"});
  }
}

// ---- rate limits: nullopt is unlimited.
std::optional<RateLimit> Effective(const RateLimitConfig& c, const std::string& actor) {
  auto it = c.per_actor.find(actor);
  return it != c.per_actor.end() ? std::optional(it->second) : c.default_limit;
}

void DiffLimit(const std::string& subject, const std::optional<RateLimit>& b,
               const std::optional<RateLimit>& a, std::vector<AuthorityChange>& out) {
  bool wider = (!a && b) || (a && b && (a->tokens_per_second > b->tokens_per_second ||
                                        a->burst > b->burst));
  bool narrower = (a && !b) || (a && b && (a->tokens_per_second < b->tokens_per_second ||
                                           a->burst < b->burst));
  if (!wider && !narrower) return;
  out.push_back({wider, "rate_limit", subject,
                 StrCat(wider ? "raised: " : "lowered: ", RateText(b), " -> ", RateText(a))});
}

void DiffRateLimits(const Bundle& b, const Bundle& a, std::vector<AuthorityChange>& out) {
  DiffLimit("default (actors without their own limit)", b.rate_limits.default_limit,
            a.rate_limits.default_limit, out);
  for (const ActorDef& actor : a.actors) {
    bool known = std::any_of(b.actors.begin(), b.actors.end(),
                             [&](const ActorDef& x) { return x.identity == actor.identity; });
    if (!known) continue;
    DiffLimit(actor.identity, Effective(b.rate_limits, actor.identity),
              Effective(a.rate_limits, actor.identity), out);
  }
}

// ---- approver keys and governed pods: sets of texts.
void DiffSets(const char* kind, const std::string& subject, const Names& b, const Names& a,
              bool added_adds, const char* added, const char* removed,
              std::vector<AuthorityChange>& out) {
  if (auto g = Minus(a, b); !g.empty()) {
    out.push_back({added_adds, kind, subject, StrCat(added, ": ", Join(g))});
  }
  if (auto l = Minus(b, a); !l.empty()) {
    out.push_back({!added_adds, kind, subject, StrCat(removed, ": ", Join(l))});
  }
}

Names Keys(const ActorDef& a) {
  Names out;
  for (const auto& k : a.approver_keys) out.push_back(ToHex(k).substr(0, 16) + "...");
  // A WebAuthn credential approves as much as a key does.
  for (const auto& c : a.webauthn_credentials)
    out.push_back("webauthn:" + ToHex(crypto::Sha256(c.id)).substr(0, 16) + "...");
  return out;
}

std::string SelectorText(const k8s::LabelSelector& s) {
  Names parts;
  for (const auto& [k, v] : s.match_labels()) parts.push_back(StrCat(k, "=", v));
  const char* ops[] = {"in", "notin", "exists", "!exists"};
  for (const auto& r : s.expressions()) {
    parts.push_back(StrCat(r.key, " ", ops[static_cast<int>(r.op)],
                           r.values.empty() ? "" : StrCat(" (", Join(r.values), ")")));
  }
  return "{" + Join(parts) + "}";
}

Names PodTexts(const Bundle& x) {
  Names out;
  for (const auto& p : x.governed_pods) {
    out.push_back(StrCat("namespaces ", SelectorText(p.namespace_selector), " pods ",
                         SelectorText(p.pod_selector),
                         p.service_accounts.empty() ? "" : StrCat(" sa [", Join(p.service_accounts), "]")));
  }
  return out;
}

// Targets and workloads in audit mode: the gate lets through what it would
// refuse (docs/audit-mode.md).
Names AuditTexts(const Bundle& x) {
  Names out;
  for (const auto& t : x.targets)
    if (t.audit) out.push_back("target " + t.id);
  for (const auto& w : x.workloads)
    if (w.audit) out.push_back("workload " + w.id);
  return out;
}

}  // namespace

void DiffDefinitions(const Policy& before, const Policy& after, const Names& granted_targets,
                     const Names& granted_workloads, std::vector<AuthorityChange>& out) {
  const Bundle& b = before.bundle();
  const Bundle& a = after.bundle();
  DiffDenyRules(b, a, out);
  DiffRateLimits(b, a, out);
  DiffTargets(b, a, granted_targets, out);
  DiffWorkloads(b, a, granted_workloads, out);
  for (const ActorDef& aa : a.actors) {
    for (const ActorDef& ab : b.actors) {
      if (ab.identity == aa.identity) {
        DiffSets("approver_key", aa.identity, Keys(ab), Keys(aa), true, "approver keys added",
                 "approver keys removed", out);
      }
    }
  }
  DiffSets("governed_pods", "governed_pods", PodTexts(b), PodTexts(a), false,
           "selector added (the pods it matches are now gated)",
           "selector removed (pods only it matched are no longer gated)", out);
  DiffSets("audit", "audit mode", AuditTexts(b), AuditTexts(a), true,
           "now audited (let through, recorded as WOULD_DENY)", "enforced again", out);
}

}  // namespace taogate::policies::diff_internal
