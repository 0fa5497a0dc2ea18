// Test-case files -> TestFile, with the bundle loader's Walker so errors
// carry the same FILE:LINE:COL: field.path: message form.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "taogate/common/strings.h"
#include "taogate/policies/policy_test.h"
#include "yaml_walk.h"

namespace taogate::policies {
namespace {

using internal::At;
using internal::Fields;
using internal::Sub;
using internal::Walker;

std::optional<std::string> Opt(Walker& w, const Fields& f, std::string_view key,
                               std::string_view path, size_t max_len) {
  auto it = f.find(key);
  if (it == f.end()) return std::nullopt;
  return w.String(it->second.value, Sub(path, key), max_len);
}

std::optional<std::vector<std::string>> SortedList(Walker& w, const YAML::Node& n,
                                                   std::string_view path) {
  auto v = w.StringSeq(n, path, kMaxIdentityLength, true);
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  for (auto& [s, node] : *v) out.push_back(s);
  std::sort(out.begin(), out.end());
  return out;
}

// `workload:` NAME, or {node, cgroup, pod_labels, attested: {namespace,
// service_account, exe_path, exe_sha256}}.
void ReadWorkload(Walker& w, const YAML::Node& n, std::string_view path, TestCase& c) {
  if (n.IsScalar()) {
    auto id = w.Id(n, path);
    if (id) c.workload_id = *id;
    c.workload_line = n.Mark().line + 1;
    c.workload_column = n.Mark().column + 1;
    return;
  }
  Fields f;
  if (!w.ReadMap(n, path, {"node", "cgroup", "pod_labels", "attested"}, {}, &f)) return;
  WorkloadAttributes& a = c.request.workload;
  a.node = Opt(w, f, "node", path, kMaxIdLength).value_or("");
  a.cgroup_path = Opt(w, f, "cgroup", path, kMaxPathLength).value_or("");
  if (f.count("pod_labels")) {
    std::string lp = Sub(path, "pod_labels");
    const YAML::Node& ln = f["pod_labels"].value;
    if (!ln.IsMap()) {
      w.Error(ln, lp, "must be a mapping label: value");
    } else {
      for (auto it = ln.begin(); it != ln.end(); ++it) {
        const YAML::Node k = it->first;
        const YAML::Node v = it->second;
        auto key = w.String(k, lp, 317);
        auto val = w.String(v, key ? Sub(lp, *key) : lp, 63);
        if (key && val) a.pod_labels[*key] = *val;
      }
    }
  }
  if (f.count("attested")) {
    std::string ap = Sub(path, "attested");
    Fields at;
    const YAML::Node& an = f["attested"].value;
    if (w.ReadMap(an, ap, {"namespace", "service_account", "exe_path", "exe_sha256"}, {}, &at)) {
      a.attested = true;
      a.k8s_namespace = Opt(w, at, "namespace", ap, 63).value_or("");
      a.service_account = Opt(w, at, "service_account", ap, 253).value_or("");
      a.exe_path = Opt(w, at, "exe_path", ap, kMaxPathLength).value_or("");
      a.exe_sha256 = Opt(w, at, "exe_sha256", ap, 64).value_or("");
    }
  }
}

void ReadApprovals(Walker& w, const YAML::Node& n, std::string_view path, CaseExpectation& e) {
  Fields f;
  if (!w.ReadMap(n, path, {"count", "roles", "approvers"}, {}, &f)) return;
  if (f.count("count")) {
    auto v = w.Uint(f["count"].value, Sub(path, "count"), 1, kMaxApprovalCount);
    if (v) e.approval_count = static_cast<uint32_t>(*v);
  }
  if (f.count("roles")) e.approval_roles = SortedList(w, f["roles"].value, Sub(path, "roles"));
  if (f.count("approvers")) {
    e.approvers = SortedList(w, f["approvers"].value, Sub(path, "approvers"));
  }
}

void ReadRateLimit(Walker& w, const YAML::Node& n, std::string_view path, CaseExpectation& e) {
  e.check_rate_limit = true;
  if (n.IsScalar() && n.Scalar() == "none") return;
  Fields f;
  if (!w.ReadMap(n, path, {"rate", "burst"}, {"rate", "burst"}, &f)) return;
  auto rs = w.String(f["rate"].value, Sub(path, "rate"), 32);
  auto burst = w.Uint(f["burst"].value, Sub(path, "burst"), 1, 1'000'000);
  std::optional<double> rate = rs ? ParseRate(*rs) : std::nullopt;
  if (rs && !rate) {
    w.Error(f["rate"].value, Sub(path, "rate"), "must be N/s, N/m or N/h with 1 <= N <= 1000000");
  }
  if (rate && burst) e.rate_limit = RateLimit{*rate, static_cast<uint32_t>(*burst)};
}

void ReadExpect(Walker& w, const YAML::Node& n, std::string_view path, TestCase& c) {
  Fields f;
  if (!w.ReadMap(n, path, {"decision", "rule", "reason", "ttl", "approvals", "rate_limit"},
                 {"decision"}, &f)) {
    if (!n.IsMap()) return;
  }
  CaseExpectation& e = c.expect;
  if (f.count("decision")) {
    auto d = w.String(f["decision"].value, Sub(path, "decision"), 32);
    if (d == "permit") e.decision = Effect::kPermit;
    else if (d == "deny") e.decision = Effect::kDeny;
    else if (d == "require_approval") e.decision = Effect::kRequireApproval;
    else if (d) {
      w.Error(f["decision"].value, Sub(path, "decision"),
              StrCat("'", *d, "' is not permit, deny or require_approval"));
    }
  }
  if (f.count("rule")) {
    const YAML::Node& rn = f["rule"].value;
    if (rn.IsScalar() && rn.Scalar() == "-") e.rule = "-";
    else if (auto id = w.Id(rn, Sub(path, "rule"))) e.rule = *id;
  }
  e.reason_contains = Opt(w, f, "reason", path, 4096);
  if (f.count("ttl")) {
    e.ttl_seconds = w.Duration(f["ttl"].value, Sub(path, "ttl"), kMaxTtlSeconds);
  }
  if (f.count("approvals")) ReadApprovals(w, f["approvals"].value, Sub(path, "approvals"), e);
  if (f.count("rate_limit")) ReadRateLimit(w, f["rate_limit"].value, Sub(path, "rate_limit"), e);
}

std::optional<TestCase> ReadCase(Walker& w, const YAML::Node& n, const std::string& path) {
  Fields f;
  if (!w.ReadMap(n, path,
                 {"name", "actor", "workload", "action", "target", "break_glass", "expect"},
                 {"name", "actor", "action", "target", "expect"}, &f)) {
    if (!n.IsMap()) return std::nullopt;
  }
  TestCase c;
  c.line = n.Mark().line + 1;
  c.column = n.Mark().column + 1;
  c.name = Opt(w, f, "name", path, 256).value_or("");
  c.request.actor = Opt(w, f, "actor", path, kMaxIdentityLength).value_or("");
  c.request.action = Opt(w, f, "action", path, kMaxIdLength).value_or("");
  if (auto t = Opt(w, f, "target", path, kMaxPathLength + 16)) {
    auto ref = ParseTargetRef(*t);
    if (ref.ok()) {
      c.request.target = *ref;
    } else {
      w.Error(f["target"].value, Sub(path, "target"), std::string(ref.status().message()));
    }
  }
  if (f.count("workload")) ReadWorkload(w, f["workload"].value, Sub(path, "workload"), c);
  if (f.count("break_glass")) {
    std::string bp = Sub(path, "break_glass");
    const YAML::Node& bn = f["break_glass"].value;
    Fields bg;
    c.break_glass_ttl = 0;
    if (w.ReadMap(bn, bp, {"ttl"}, {}, &bg) && bg.count("ttl")) {
      c.break_glass_ttl = w.Duration(bg["ttl"].value, Sub(bp, "ttl"), kMaxBreakGlassTtlSeconds);
    }
  }
  if (f.count("expect")) ReadExpect(w, f["expect"].value, Sub(path, "expect"), c);
  return c;
}

}  // namespace

absl::StatusOr<TestFile> ParseTestFile(std::string_view bytes, std::string_view file_name,
                                       std::vector<ValidationError>* errors) {
  Walker w(file_name);
  TestFile out;
  out.path = std::string(file_name);
  try {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(bytes));
    } catch (const YAML::Exception& e) {
      w.Error(e.mark, "", StrCat("YAML syntax error: ", e.msg));
    }
    Fields f;
    if (w.ok() && w.ReadMap(root, "", {"bundle", "description", "cases"}, {"bundle", "cases"},
                            &f)) {
      auto bundle = w.String(f["bundle"].value, "bundle", kMaxPathLength);
      out.bundle_line = f["bundle"].value.Mark().line + 1;
      out.bundle_column = f["bundle"].value.Mark().column + 1;
      if (bundle) {
        std::filesystem::path p(*bundle);
        if (p.is_relative()) p = std::filesystem::path(file_name).parent_path() / p;
        out.bundle_path = p.lexically_normal().string();
      }
      if (f.count("description")) (void)w.String(f["description"].value, "description", 4096);
      auto seq = w.Seq(f["cases"].value, "cases", false);
      std::set<std::string> names;
      for (size_t i = 0; seq && i < seq->size(); ++i) {
        auto c = ReadCase(w, (*seq)[i], At("cases", i));
        if (!c) continue;
        if (!c->name.empty() && !names.insert(c->name).second) {
          w.Error((*seq)[i], Sub(At("cases", i), "name"), StrCat("duplicate case name '", c->name, "'"));
        }
        out.cases.push_back(std::move(*c));
      }
    }
  } catch (const std::exception& e) {
    // yaml-cpp throws on internal inconsistencies; never let it escape.
    w.Error(YAML::Mark(), "", StrCat("YAML error: ", e.what()));
  }
  if (w.ok()) return out;
  std::string msg;
  for (const auto& e : w.errors()) msg += e.ToString() + "\n";
  if (errors) errors->insert(errors->end(), w.errors().begin(), w.errors().end());
  return absl::InvalidArgumentError(msg);
}

absl::StatusOr<TestFile> LoadTestFile(const std::string& path,
                                      std::vector<ValidationError>* errors) {
  std::string bytes;
  if (auto s = ReadBundleFile(path, &bytes); !s.ok()) return s;
  return ParseTestFile(bytes, path, errors);
}

std::optional<double> ParseRate(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 7) return std::nullopt;
  std::string_view unit = text.substr(slash + 1);
  double per = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
  uint64_t n = 0;
  for (char ch : text.substr(0, slash)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (per == 0 || n == 0 || n > 1'000'000) return std::nullopt;
  return static_cast<double>(n) / per;
}

std::string RateText(const std::optional<RateLimit>& l) {
  if (!l) return "none";
  const double r = l->tokens_per_second;
  std::string rate;
  for (auto [unit, per] : {std::pair{"s", 1.0}, {"m", 60.0}, {"h", 3600.0}}) {
    double n = r * per;
    if (std::fabs(n - std::round(n)) < 1e-6 * std::max(1.0, n)) {
      rate = StrCat(static_cast<uint64_t>(std::llround(n)), "/", unit);
      break;
    }
  }
  if (rate.empty()) rate = StrCat(r, "/s");
  return StrCat(rate, " burst ", l->burst);
}

}  // namespace taogate::policies
