// taogatectl policy validate|hash|eval|targets FILE: offline checks of a
// policy bundle with exactly the library the governor uses.
//   validate: every error as FILE:LINE:COL: field.path: message (stderr), exit 1
//   hash:     "<sha256 hex>  FILE" (same as sha256sum) for a valid bundle
//   eval:     the Decision as JSON; exit 0 PERMIT, 2 DENY, 3 REQUIRE_APPROVAL
//   targets:  the protected-target export agents compile, as JSON, with the
//             governed_pods selectors in their wire form (as `gov watch-targets`)
//   test, diff: policy_test_cmd.cc, policy_diff_cmd.cc

#include <iostream>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "command.h"
#include "policy_cmds.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/selector_proto.h"
#include "taogate/policies/policy.h"
#include "taogate/policies/policy_test.h"

namespace taogate::cli {

using policies::Policy;

std::shared_ptr<const Policy> LoadOrReport(const std::string& file) {
  std::vector<policies::ValidationError> errors;
  auto p = Policy::LoadFile(file, &errors);
  if (p.ok()) return *p;
  if (errors.empty()) {
    Fail(std::string(p.status().message()));
  } else {
    for (const auto& e : errors) std::cerr << e.ToString() << "\n";
    Fail(StrCat(file, ": invalid policy bundle (", errors.size(), " error",
                errors.size() == 1 ? "" : "s", ")"));
  }
  return nullptr;
}

namespace {

// "NAME" (a workload declared in the bundle: its first value of each selector,
// policies::WorkloadAttributesFor) or "node=N,cgroup=/path,label.KEY=VALUE,...".
bool ParseWorkload(const Policy& p, const std::string& spec, policies::WorkloadAttributes* out) {
  if (spec.empty()) return true;
  if (spec.find('=') == std::string::npos) {
    auto a = policies::WorkloadAttributesFor(p.bundle(), spec);
    if (!a.ok()) {
      Fail(std::string(a.status().message()));
      return false;
    }
    *out = *a;
    return true;
  }
  size_t i = 0;
  while (i <= spec.size()) {
    size_t j = spec.find(',', i);
    if (j == std::string::npos) j = spec.size();
    std::string item = spec.substr(i, j - i);
    size_t eq = item.find('=');
    std::string k = item.substr(0, eq), v = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (k == "node") out->node = v;
    else if (k == "cgroup") out->cgroup_path = v;
    else if (k.rfind("label.", 0) == 0 && k.size() > 6) out->pod_labels[k.substr(6)] = v;
    else {
      Fail(StrCat("bad --workload item '", item, "' (node=, cgroup=, label.KEY=)"));
      return false;
    }
    i = j + 1;
  }
  return true;
}

int Validate(const std::string& file) {
  auto p = LoadOrReport(file);
  if (!p) return 1;
  const auto& b = p->bundle();
  std::cout << file << ": OK " << p->HashHex() << " (" << b.rules.size() << " rules, "
            << b.targets.size() << " targets, " << b.actors.size() << " actors, "
            << b.governed_pods.size() << " governed-pod selectors)\n";
  return 0;
}

int Hash(const std::string& file) {
  auto p = LoadOrReport(file);
  if (!p) return 1;
  std::cout << p->HashHex() << "  " << file << "\n";
  return 0;
}

int Eval(const std::string& file, const std::string& actor, const std::string& workload,
         const std::string& action, const std::string& target) {
  auto p = LoadOrReport(file);
  if (!p) return 1;
  policies::Request req;
  req.actor = actor;
  req.action = action;
  if (!ParseWorkload(*p, workload, &req.workload)) return 1;
  auto t = policies::ParseTargetRef(target);
  if (!t.ok()) return Fail(StrCat("--target: ", std::string(t.status().message())));
  req.target = *t;
  policies::Decision d = p->Evaluate(req);
  nlohmann::json j;
  j["effect"] = std::string(policies::EffectName(d.effect));
  j["rule_id"] = d.rule_id;
  j["reason"] = d.reason;
  j["ttl_seconds"] = d.ttl.count();
  j["bundle_sha256"] = ToHex(d.bundle_sha256);
  if (d.approval) j["approval"] = {{"roles", d.approval->roles}, {"count", d.approval->count}};
  std::cout << j.dump(2) << "\n";
  return d.effect == policies::Effect::kPermit ? 0
         : d.effect == policies::Effect::kDeny ? 2
                                               : 3;
}

int Targets(const std::string& file) {
  auto p = LoadOrReport(file);
  if (!p) return 1;
  auto set = p->ProtectedTargets();
  nlohmann::json j;
  j["bundle_sha256"] = p->HashHex();
  j["networks"] = nlohmann::json::array();
  for (const auto& n : set.networks) {
    nlohmann::json protos = nlohmann::json::array();
    if (n.range.tcp) protos.push_back("tcp");
    if (n.range.udp) protos.push_back("udp");
    j["networks"].push_back({{"target", n.target_id},
                             {"cidr", policies::CidrText(n.range)},
                             {"ports", {n.range.port_lo, n.range.port_hi}},
                             {"protocols", protos}});
    if (n.audit) j["networks"].back()["audit"] = true;  // docs/audit-mode.md; absent = enforce
  }
  j["names"] = nlohmann::json::array();
  for (const auto& n : set.names) {
    nlohmann::json protos = nlohmann::json::array();
    if (n.range.tcp) protos.push_back("tcp");
    if (n.range.udp) protos.push_back("udp");
    j["names"].push_back({{"target", n.target_id},
                          {"host", n.range.host},
                          {"ports", {n.range.port_lo, n.range.port_hi}},
                          {"protocols", protos}});
    if (n.audit) j["names"].back()["audit"] = true;
  }
  auto paths = [](const std::vector<policies::ProtectedTargetSet::Path>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : v) {
      a.push_back({{"target", e.target_id}, {"path", e.path}, {"prefix", e.prefix}});
      if (e.audit) a.back()["audit"] = true;
    }
    return a;
  };
  j["unix_paths"] = paths(set.unix_paths);
  j["file_paths"] = paths(set.file_paths);
  j["binaries"] = paths(set.binaries);
  j["governed_pods"] = nlohmann::json::array();
  for (const auto& s : p->bundle().governed_pods) {
    std::string text;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    // Cannot fail: the message has no Any fields.
    (void)google::protobuf::util::MessageToJsonString(k8s::ToProto(s), &text, o);
    j["governed_pods"].push_back(nlohmann::json::parse(text));
  }
  j["hold"] = nlohmann::json::array();  // docs/hold.md
  const policies::Bundle& b = p->bundle();
  auto ids = [](const policies::Selection& sel, const auto& defs, auto id) {
    nlohmann::json a = nlohmann::json::array();
    if (sel.any) a.push_back("*");
    for (policies::Index i : sel.items) a.push_back(id(defs[i]));
    return a;
  };
  for (const auto& h : b.hold)
    j["hold"].push_back({{"id", h.id},
                         {"workloads", ids(h.workloads, b.workloads, [](const auto& d) { return d.id; })},
                         {"targets", ids(h.targets, b.targets, [](const auto& d) { return d.id; })},
                         {"action", b.action_classes[h.action].id},
                         {"max_hold_ms", h.max_hold_ms}});
  std::cout << j.dump(2) << "\n";
  return 0;
}

void Register(CLI::App& root) {
  auto* pc = root.add_subcommand("policy", "Validate, hash, evaluate, test and diff policy bundles offline");
  pc->require_subcommand(1);
  static std::string file, actor, workload, action, target;

  auto* v = pc->add_subcommand("validate", "Check a bundle; print FILE:LINE:COL: field: message errors");
  v->add_option("FILE", file, "policy bundle (YAML)")->required();
  v->callback([] { ExitCode() = Validate(file); });

  auto* h = pc->add_subcommand("hash", "Print a valid bundle's address (sha256 of its exact bytes)");
  h->add_option("FILE", file, "policy bundle (YAML)")->required();
  h->callback([] { ExitCode() = Hash(file); });

  auto* e = pc->add_subcommand(
      "eval", "Evaluate one request; exit 0 PERMIT, 2 DENY, 3 REQUIRE_APPROVAL, 1 error");
  e->add_option("FILE", file, "policy bundle (YAML)")->required();
  e->add_option("--actor", actor, "actor identity, e.g. spiffe://example.org/sa/x")->required();
  e->add_option("--workload", workload,
                "declared workload id, or node=N,cgroup=/path,label.KEY=VALUE");
  e->add_option("--action", action, "action class id")->required();
  e->add_option("--target", target, "tcp:ADDR:PORT, udp:[V6]:PORT, unix:/p, file:/p, exec:/p")
      ->required();
  e->callback([] { ExitCode() = Eval(file, actor, workload, action, target); });

  auto* t = pc->add_subcommand("targets", "Print the protected-target export agents compile");
  t->add_option("FILE", file, "policy bundle (YAML)")->required();
  t->callback([] { ExitCode() = Targets(file); });

  RegisterPolicyTest(*pc);
  RegisterPolicyDiff(*pc);
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
