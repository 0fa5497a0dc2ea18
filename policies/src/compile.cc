// Bundle -> Policy::Compiled: symbol tables, per-rule bitsets, the per-action
// rule lists and the target and workload indexes described in compiled.h.
#include <algorithm>

#include "compiled.h"

namespace taogate::policies {
namespace {

Bits ToBits(const std::vector<Index>& items, size_t n) {
  Bits b(n);
  for (Index i : items) b.Set(i);
  return b;
}

// "/a/b/" and "/a/b" name the same directory key "/a/b"; "/" is "/".
std::string DirKey(std::string_view p) {
  if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return std::string(p);
}

void AddNet(std::vector<PrefixTable>& tables, const NetRange& r, Index target) {
  auto it = std::find_if(tables.begin(), tables.end(),
                         [&](const PrefixTable& t) { return t.len == r.prefix_len; });
  if (it == tables.end()) {
    tables.push_back(PrefixTable{r.prefix_len, {}});
    it = tables.end() - 1;
  }
  it->nets[MaskedKey(r.addr, r.prefix_len)].push_back(
      NetEntry{target, r.port_lo, r.port_hi, r.tcp, r.udp});
}

}  // namespace

PrefixKey MaskedKey(const std::array<uint8_t, 16>& addr, uint8_t len) {
  PrefixKey k;
  for (int i = 0; i < 8; ++i) k.hi = (k.hi << 8) | addr[i];
  for (int i = 8; i < 16; ++i) k.lo = (k.lo << 8) | addr[i];
  if (len == 0) return PrefixKey{};
  if (len < 64) {
    k.hi &= ~uint64_t{0} << (64 - len);
    k.lo = 0;
  } else if (len < 128) {
    k.lo &= len == 64 ? 0 : ~uint64_t{0} << (128 - len);
  }
  return k;
}

std::unique_ptr<Policy::Compiled> Compile(Bundle bundle, const BundleHash& hash) {
  auto c = std::make_unique<Policy::Compiled>();
  c->hash = hash;
  const Bundle& b = bundle;
  const size_t nroles = b.roles.size(), nactors = b.actors.size();
  for (Index i = 0; i < nroles; ++i) c->roles.emplace(b.roles[i].id, i);
  for (Index i = 0; i < nactors; ++i) {
    c->actors.emplace(b.actors[i].identity, i);
    c->actor_roles.push_back(ToBits(b.actors[i].roles, nroles));
  }
  const size_t nactions = b.action_classes.size();
  for (Index i = 0; i < nactions; ++i) c->actions.emplace(b.action_classes[i].id, i);
  c->by_action.resize(nactions);

  for (Index ri = 0; ri < b.rules.size(); ++ri) {
    const RuleDef& r = b.rules[ri];
    CompiledRule cr;
    cr.rule = ri;
    cr.any_actor = r.actors.any;
    cr.actors = ToBits(r.actors.items, nactors);
    cr.roles = ToBits(r.roles, nroles);
    cr.any_workload = r.workloads.any;
    cr.workloads = ToBits(r.workloads.items, b.workloads.size());
    cr.any_target = r.targets.any;
    cr.targets = ToBits(r.targets.items, b.targets.size());
    uint32_t pos = static_cast<uint32_t>(c->rules.size());
    c->rules.push_back(std::move(cr));
    auto add = [&](Policy::Compiled::RuleLists& l) {
      (r.effect == RuleEffect::kDeny              ? l.deny
       : r.effect == RuleEffect::kRequireApproval ? l.approve
                                                  : l.allow)
          .push_back(pos);
    };
    auto add_for_action = [&](Policy::Compiled::ActionIndex& ai) {
      if (r.targets.any) {
        add(ai.any_target);
      } else {
        for (Index t : r.targets.items) add(ai.by_target[t]);
      }
    };
    if (r.actions.any) {
      for (auto& ai : c->by_action) add_for_action(ai);
    } else {
      for (Index a : r.actions.items) add_for_action(c->by_action[a]);
    }
  }

  for (Index ti = 0; ti < b.targets.size(); ++ti) {
    const TargetDef& t = b.targets[ti];
    for (const NetRange& r : t.networks) AddNet(r.family == 4 ? c->v4 : c->v6, r, ti);
    for (const NameRange& r : t.names) c->names[r.host].push_back(NetEntry{ti, r.port_lo, r.port_hi, r.tcp, r.udp});
    for (const auto& p : t.unix_paths) c->unix_paths[p].push_back(ti);
    for (const auto& p : t.binaries) c->exec_paths[p].push_back(ti);
    for (const auto& p : t.file_paths) {
      (p.back() == '/' ? c->file_dirs[DirKey(p)] : c->file_paths[p]).push_back(ti);
    }
  }
  for (auto* tables : {&c->v4, &c->v6}) {
    std::sort(tables->begin(), tables->end(),
              [](const PrefixTable& x, const PrefixTable& y) { return x.len > y.len; });
  }

  for (Index wi = 0; wi < b.workloads.size(); ++wi) {
    const WorkloadDef& w = b.workloads[wi];
    // Index each workload under one selector that every match must satisfy.
    if (!w.cgroup_paths.empty()) {
      for (const auto& p : w.cgroup_paths) c->wl_by_cgroup[DirKey(p)].push_back(wi);
    } else if (!w.nodes.empty()) {
      for (const auto& n : w.nodes) c->wl_by_node[n].push_back(wi);
    } else if (!w.pod_labels.empty()) {
      const auto& [k, v] = *w.pod_labels.begin();
      c->wl_by_label[k + "=" + v].push_back(wi);
    } else if (!w.namespaces.empty()) {
      for (const auto& n : w.namespaces) c->wl_by_attested["ns:" + n].push_back(wi);
    } else if (!w.service_accounts.empty()) {
      for (const auto& n : w.service_accounts) c->wl_by_attested["sa:" + n].push_back(wi);
    } else if (!w.exe_paths.empty()) {
      for (const auto& n : w.exe_paths) c->wl_by_attested["exe:" + n].push_back(wi);
    } else {
      for (const auto& n : w.exe_sha256) c->wl_by_attested["sha:" + n].push_back(wi);
    }
  }
  c->bundle = std::move(bundle);
  return c;
}

}  // namespace taogate::policies
