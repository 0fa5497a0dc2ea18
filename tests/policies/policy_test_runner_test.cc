// Policy test files (policy_test.h): cases run with the governor's
// evaluation, failures as field diffs, malformed files as positioned errors.
#include <gtest/gtest.h>

#include "taogate/policies/policy_test.h"

namespace taogate::policies {
namespace {

constexpr char kBundle[] = R"(version: 1
name: t
roles: [{id: reader}, {id: dba}]
actors:
  - {identity: spiffe://t/reader, roles: [reader]}
  - {identity: spiffe://t/writer, roles: [reader]}
  - identity: spiffe://t/alice
    roles: [dba]
    approver_keys: [fa13593ee580a8c2ca4206f63e0b26080e9f675f2a4b9f742c6b33bfe0c8d2d4]
workloads:
  - {id: app, selectors: {cgroup_paths: [/app]}}
targets:
  - id: db
    networks: [{cidrs: [10.0.0.1/32], hosts: [db.prod.internal], ports: [5432], protocols: [tcp]}]
action_classes: [{id: read, ttl: 60s}, {id: write, ttl: 30s}]
rules:
  - {id: reads, effect: allow, roles: [reader], workloads: [app], actions: [read], targets: [db]}
  - id: writes
    effect: require_approval
    actors: [spiffe://t/writer]
    workloads: ["*"]
    actions: [write]
    targets: [db]
    approval: {roles: [dba], count: 1}
rate_limits:
  default: {rate: 10/s, burst: 20}
)";

std::shared_ptr<const Policy> Fixture() { return *Policy::Load(kBundle, "t.yaml"); }

// The cases file with one case whose fields are `body` (indented 4).
std::string OneCase(const std::string& body) {
  return "bundle: t.yaml\ncases:\n  - name: c\n" + body;
}

absl::StatusOr<std::vector<CaseResult>> RunCases(const std::string& file,
                                            std::vector<ValidationError>* errors = nullptr) {
  auto tf = ParseTestFile(file, "dir/t_test.yaml", errors);
  if (!tf.ok()) return tf.status();
  return RunTestCases(*Fixture(), *tf, errors);
}

std::string FirstError(const std::string& file) {
  std::vector<ValidationError> errors;
  auto r = RunCases(file, &errors);
  EXPECT_FALSE(r.ok());
  return errors.empty() ? "(no error)" : errors[0].ToString();
}

constexpr char kRead[] =
    "    actor: spiffe://t/reader\n    workload: app\n    action: read\n"
    "    target: tcp:10.0.0.1:5432\n";

TEST(PolicyTestRunner, BundlePathIsRelativeToTheTestFile) {
  auto tf = ParseTestFile(OneCase(std::string(kRead) + "    expect: {decision: permit}\n"),
                          "dir/sub/t_test.yaml");
  ASSERT_TRUE(tf.ok()) << tf.status();
  EXPECT_EQ(tf->bundle_path, "dir/sub/t.yaml");
}

TEST(PolicyTestRunner, MatchingExpectationPasses) {
  auto r = RunCases(OneCase(std::string(kRead) +
                       "    expect: {decision: permit, rule: reads, ttl: 1m, reason: permitted,"
                       " rate_limit: {rate: 600/m, burst: 20}}\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE((*r)[0].passed());
  EXPECT_EQ((*r)[0].line, 3);
}

TEST(PolicyTestRunner, WrongExpectationIsADiffOfOnlyTheDifferingFields) {
  auto r = RunCases(OneCase(std::string(kRead) + "    expect: {decision: deny, rule: reads, ttl: 30s}\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& d = (*r)[0].diffs;
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].field, "decision");
  EXPECT_EQ(d[0].expected, "deny");
  EXPECT_EQ(d[0].got, "permit");
  EXPECT_EQ(d[1].field, "ttl");
  EXPECT_EQ(d[1].got, "60s");
}

TEST(PolicyTestRunner, ApprovalsAreCheckedAsCountRolesAndApprovers) {
  auto r = RunCases(OneCase(
      "    actor: spiffe://t/writer\n    action: write\n    target: tcp:db.prod.internal:5432\n"
      "    expect: {decision: require_approval, rule: writes,"
      " approvals: {count: 2, roles: [dba], approvers: [spiffe://t/alice]}}\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& d = (*r)[0].diffs;
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].field, "approvals.count");
  EXPECT_EQ(d[0].expected, "2");
  EXPECT_EQ(d[0].got, "1");
}

TEST(PolicyTestRunner, NoRuleIsWrittenAsDash) {
  auto r = RunCases(OneCase(
      "    actor: spiffe://t/reader\n    workload: {cgroup: /other}\n    action: read\n"
      "    target: tcp:10.0.0.1:5432\n    expect: {decision: deny, rule: \"-\"}\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[0].passed());
}

TEST(PolicyTestRunner, RateLimitDiffNamesBothLimits) {
  auto r = RunCases(OneCase(std::string(kRead) + "    expect: {decision: permit, rate_limit: none}\n"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)[0].diffs.size(), 1u);
  EXPECT_EQ((*r)[0].diffs[0].expected, "none");
  EXPECT_EQ((*r)[0].diffs[0].got, "10/s burst 20");
}

TEST(PolicyTestRunner, UnknownKeyIsAnErrorWithLineAndColumn) {
  EXPECT_EQ(FirstError(OneCase(std::string(kRead) + "    expect: {decision: permit}\n    colour: 1\n")),
            "dir/t_test.yaml:9:5: cases[0].colour: unknown field");
}

TEST(PolicyTestRunner, BadDecisionIsAnError) {
  EXPECT_EQ(FirstError(OneCase(std::string(kRead) + "    expect:\n      decision: allow\n")),
            "dir/t_test.yaml:9:17: cases[0].expect.decision: 'allow' is not permit, deny or "
            "require_approval");
}

TEST(PolicyTestRunner, MissingExpectIsAnError) {
  EXPECT_EQ(FirstError(OneCase(kRead)), "dir/t_test.yaml:3:5: cases[0].expect: required field is missing");
}

TEST(PolicyTestRunner, UnparsableTargetIsAnError) {
  std::string e = FirstError(
      OneCase("    actor: a\n    action: read\n    target: tcp:nonsense\n    expect: {decision: deny}\n"));
  EXPECT_EQ(e.rfind("dir/t_test.yaml:6:13: cases[0].target: ", 0), 0u) << e;
}

TEST(PolicyTestRunner, UndeclaredWorkloadIsAnErrorNotAFailure) {
  EXPECT_EQ(FirstError(OneCase("    actor: a\n    workload: nope\n    action: read\n"
                               "    target: tcp:10.0.0.1:5432\n    expect: {decision: deny}\n")),
            "dir/t_test.yaml:5:15: cases[0].workload: unknown workload 'nope' (not declared in the "
            "bundle)");
}

TEST(PolicyTestRunner, YamlSyntaxErrorIsPositioned) {
  std::string e = FirstError("bundle: t.yaml\ncases: [\n");
  EXPECT_EQ(e.rfind("dir/t_test.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("YAML syntax error"), std::string::npos) << e;
}

TEST(PolicyTestRunner, DuplicateCaseNamesAreRefused) {
  std::string c = std::string("  - name: c\n") + kRead + "    expect: {decision: permit}\n";
  EXPECT_NE(FirstError("bundle: t.yaml\ncases:\n" + c + c).find("duplicate case name 'c'"),
            std::string::npos);
}

TEST(PolicyTestRunner, AttestedFactsMatchOnlyWhenMarkedAttested) {
  constexpr char kAttested[] = R"(version: 1
name: a
roles: [{id: r}]
actors: [{identity: spiffe://t/a, roles: [r]}]
workloads: [{id: prod-app, selectors: {namespaces: [prod], service_accounts: [prod/app]}}]
targets: [{id: db, networks: [{cidrs: [10.0.0.1/32], ports: [5432], protocols: [tcp]}]}]
action_classes: [{id: read, ttl: 60s}]
rules: [{id: reads, effect: allow, roles: [r], workloads: [prod-app], actions: [read], targets: [db]}]
)";
  auto policy = Policy::Load(kAttested, "a.yaml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto decision = [&](const std::string& workload) {
    auto tf = ParseTestFile(OneCase("    actor: spiffe://t/a\n    workload: " + workload +
                                    "\n    action: read\n    target: tcp:10.0.0.1:5432\n"
                                    "    expect: {decision: permit}\n"),
                            "a_test.yaml");
    EXPECT_TRUE(tf.ok()) << tf.status();
    auto r = RunTestCases(**policy, *tf);
    EXPECT_TRUE(r.ok()) << r.status();
    return (*r)[0].passed();
  };
  EXPECT_TRUE(decision("prod-app"));
  EXPECT_TRUE(decision("{attested: {namespace: prod, service_account: app}}"));
  EXPECT_FALSE(decision("{attested: {namespace: prod, service_account: other}}"));
}

TEST(PolicyTestRunner, GarbageNeverCrashes) {
  for (const char* junk : {"", "[]", "bundle: [x]\ncases: {}", "cases: [1, 2]\nbundle: x",
                           "bundle: x\ncases: [{name: [1]}]", "\x01\x02", "&a [*a]"}) {
    std::vector<ValidationError> errors;
    EXPECT_FALSE(ParseTestFile(junk, "j.yaml", &errors).ok()) << junk;
    EXPECT_FALSE(errors.empty()) << junk;
  }
}

}  // namespace
}  // namespace taogate::policies
