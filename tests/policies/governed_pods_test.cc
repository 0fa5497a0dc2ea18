// governed_pods: the bundle's pod selectors, parsed by the k8s parser but
// reported like every other bundle error (FILE:LINE:COL: field.path: message),
// and the round trip bundle -> wire -> what an agent evaluates.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "k8s/pod_testing.h"
#include "policy_testing.h"
#include "taogate/k8s/selector_proto.h"
#include "testing/testing.h"

namespace taogate::policies {
namespace {

using k8s::testing::TestNamespace;
using k8s::testing::TestPod;
using testing::Errors;

// Lines 1-3; the test's entry starts at line 4.
std::string Pods(const std::string& entries) {
  return "version: 1\nname: pods\ngoverned_pods:\n" + entries;
}

// Exactly one error, at `line` and at the column of `token`'s first occurrence
// on that line of `yaml`.
void ExpectOnly(const std::string& yaml, int line, const std::string& token,
                const std::string& path, const std::string& msg) {
  auto errs = Errors(yaml);
  ASSERT_EQ(errs.size(), 1u) << (errs.empty() ? "no error"
                                              : errs[0].ToString() + "\n" + errs.back().ToString());
  size_t start = 0;
  for (int l = 1; l < line; ++l) start = yaml.find('\n', start) + 1;
  const std::string text = yaml.substr(start, yaml.find('\n', start) - start);
  ASSERT_NE(text.find(token), std::string::npos) << text;
  EXPECT_EQ(errs[0].file, "b.yaml");
  EXPECT_EQ(errs[0].line, line) << errs[0].ToString();
  EXPECT_EQ(errs[0].column, static_cast<int>(text.find(token)) + 1) << errs[0].ToString();
  EXPECT_EQ(errs[0].path, path) << errs[0].ToString();
  EXPECT_NE(errs[0].message.find(msg), std::string::npos) << errs[0].ToString();
}

std::shared_ptr<const Policy> Production() {
  auto p = Policy::LoadFile(std::string(TAOGATE_SOURCE_DIR) + "/policies/examples/production.yaml");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

struct Fixture {
  k8s::Pod pod;
  k8s::Namespace ns;
  bool governed;  // by production.yaml
};

std::vector<Fixture> Fixtures() {
  const k8s::Labels agent = {{"taogate.io/role", "ai-agent"}, {"app", "planner"}};
  return {
      {TestPod("agents", agent, "default"),
       TestNamespace("agents", {{"taogate.io/governed", "true"}}), true},
      {TestPod("agents", agent, "default"), TestNamespace("agents", {}), false},
      {TestPod("agents", agent, "default"),
       TestNamespace("agents", {{"taogate.io/governed", "yes"}}), false},
      {TestPod("agents", {{"app", "web"}}, "default"),
       TestNamespace("agents", {{"taogate.io/governed", "true"}}), false},
      {TestPod("finance", {{"app", "reporter"}}, "reporter"), TestNamespace("finance", {}), true},
      {TestPod("finance", {{"app", "reporter"}}, "refunds-agent"), TestNamespace("finance", {}),
       true},
      {TestPod("finance", {{"app", "reporter"}}, "default"), TestNamespace("finance", {}), false},
      {TestPod("shop", {{"app", "reporter"}}, "refunds-agent"), TestNamespace("shop", {}), false},
  };
}

TEST(GovernedPodsTest, ProductionExampleGovernsAgentPodsInOptedInNamespaces) {
  auto p = Production();
  ASSERT_TRUE(p);
  const auto& sel = p->bundle().governed_pods;
  ASSERT_EQ(sel.size(), 2u);
  for (const Fixture& f : Fixtures()) {
    EXPECT_EQ(k8s::AnyGoverns(sel, f.pod, f.ns), f.governed)
        << f.pod.namespace_name << " " << f.pod.service_account;
  }
}

TEST(GovernedPodsTest, RoundTripThroughTheWireGivesTheSameVerdicts) {
  auto p = Production();
  ASSERT_TRUE(p);
  v1::ProtectedTargets wire;
  for (const auto& s : p->bundle().governed_pods) *wire.add_governed_pods() = k8s::ToProto(s);
  std::string bytes;
  ASSERT_TRUE(wire.SerializeToString(&bytes));
  v1::ProtectedTargets received;
  ASSERT_TRUE(received.ParseFromString(bytes));
  auto agent_side = k8s::FromProto(received.governed_pods());
  ASSERT_TRUE(agent_side.ok()) << agent_side.status();
  ASSERT_EQ(agent_side->size(), 2u);
  for (const Fixture& f : Fixtures()) {
    EXPECT_EQ(k8s::AnyGoverns(*agent_side, f.pod, f.ns), f.governed)
        << f.pod.namespace_name << " " << f.pod.service_account;
  }
}

TEST(GovernedPodsTest, AbsentOrEmptyGovernsNoPodNullIsAnError) {
  for (const char* yaml :
       {"version: 1\nname: none\n", "version: 1\nname: none\ngoverned_pods: []\n"}) {
    auto p = Policy::Load(yaml, "b.yaml");
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE((*p)->bundle().governed_pods.empty());
  }
  ExpectOnly("version: 1\nname: none\ngoverned_pods: null\n", 3, "null", "governed_pods",
             "must be a list");
}

TEST(GovernedPodsTest, NullPodSelectorIsAnErrorNotNothing) {
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    podSelector: null\n"),
             5, "null", "governed_pods[0].podSelector", "is required");
}

TEST(GovernedPodsTest, AbsentPodSelectorPointsAtTheEntry) {
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    serviceAccounts: [a]\n"),
             4, "namespaceSelector", "governed_pods[0].podSelector", "is required");
}

TEST(GovernedPodsTest, UnknownKeyInsideASelectorPointsAtTheKey) {
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    podSelector: {matchLabel: {app: agent}}\n"),
             5, "matchLabel", "governed_pods[0].podSelector", "unknown key 'matchLabel'");
}

TEST(GovernedPodsTest, BadOperatorPointsAtTheOperator) {
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    podSelector:\n"
                  "      matchExpressions:\n"
                  "        - {key: app, operator: Like, values: [agent]}\n"),
             7, "Like", "governed_pods[0].podSelector.matchExpressions[0].operator",
             "unknown operator 'Like'");
}

TEST(GovernedPodsTest, UnquotedTrueLabelValuePointsAtTheValue) {
  ExpectOnly(Pods("  - namespaceSelector: {matchLabels: {taogate.io/governed: true}}\n"
                  "    podSelector: {}\n"),
             4, "true", "governed_pods[0].namespaceSelector.matchLabels.taogate.io/governed",
             "'true' is not a string in YAML; quote it");
}

TEST(GovernedPodsTest, BadServiceAccountPointsAtIt) {
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    podSelector: {}\n"
                  "    serviceAccounts: [ai-agent, Bad_Name]\n"),
             6, "Bad_Name", "governed_pods[0].serviceAccounts", "service account 'Bad_Name'");
}

TEST(GovernedPodsTest, InWithoutValuesPointsAtTheRequirement) {
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    podSelector: {matchExpressions: [{key: app, operator: In}]}\n"),
             5, "app", "governed_pods[0].podSelector", "In and NotIn need at least one value");
}

TEST(GovernedPodsTest, BadLabelKeyPointsAtTheKey) {
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    podSelector: {matchLabels: {Example.com/app: x}}\n"),
             5, "Example.com/app", "governed_pods[0].podSelector", "label key 'Example.com/app'");
}

TEST(GovernedPodsTest, DuplicateKeyIsRefused) {
  // yaml-cpp keeps both; which one counts must not be left to the parser.
  ExpectOnly(Pods("  - namespaceSelector: {}\n"
                  "    podSelector: {}\n"
                  "    podSelector: null\n"),
             6, "podSelector", "governed_pods[0].podSelector", "duplicate field");
  ExpectOnly(Pods("  - namespaceSelector: {matchLabels: {team: a, team: b}}\n"
                  "    podSelector: {}\n"),
             4, "team: b", "governed_pods[0].namespaceSelector.matchLabels.team",
             "duplicate field");
}

TEST(GovernedPodsTest, ManyLabelsLoadInLinearTime) {
  std::string labels;
  for (int i = 0; i < 50000; ++i) labels += "k" + std::to_string(i) + ": v, ";
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(
      Errors(Pods("  - namespaceSelector: {matchLabels: {" + labels + "}}\n    podSelector: {}\n"))
          .empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(GovernedPodsTest, EveryBadEntryIsReportedInOneRun) {
  auto errs =
      Errors(Pods("  - {namespaceSelector: {}, podSelector: {matchLabels: {a: yes}}}\n"
                  "  - {namespaceSelector: {}, podSelector: {}}\n"
                  "  - {namespaceSelector: {}}\n"
                  "  - not-a-selector\n"));
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_EQ(errs[0].path, "governed_pods[0].podSelector.matchLabels.a");
  EXPECT_EQ(errs[1].path, "governed_pods[2].podSelector");
  EXPECT_EQ(errs[2].path, "governed_pods[3]");
  EXPECT_EQ(errs[2].line, 7);
}

TEST(GovernedPodsTest, AliasesCannotMakeAnEntryExpensive) {
  // 400 aliases of one requirement with 20,000 values: 8M values behind 80 KB.
  std::string values = "v";
  for (int i = 1; i < 20000; ++i) values += ", v";
  std::string yaml = Pods(
      "  - namespaceSelector: {}\n"
      "    podSelector:\n"
      "      matchExpressions:\n"
      "        - &e {key: a, operator: In, values: [" +
      values + "]}\n");
  for (int i = 0; i < 400; ++i) yaml += "        - *e\n";
  auto errs = Errors(yaml);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].message.find("node budget exhausted"), std::string::npos) << errs[0].ToString();
}

TEST(GovernedPodsTest, AtMostAsManyEntriesAsAgentsAccept) {
  std::string entries;
  for (size_t i = 0; i < k8s::kMaxGovernedPodSelectors; ++i) {
    entries += "  - {namespaceSelector: {}, podSelector: {}}\n";
  }
  EXPECT_TRUE(Errors(Pods(entries)).empty());
  entries += "  - {namespaceSelector: {}, podSelector: {}}\n";
  ExpectOnly(Pods(entries), 4, "-", "governed_pods", "at most 1024 entries");
}

TEST(GovernedPodsTest, CliTargetsPrintsTheSelectorsInWireForm) {
  auto r = taogate::testing::RunCommand(
      {taogate::testing::BinPath("taogatectl"), "policy", "targets",
       std::string(TAOGATE_SOURCE_DIR) + "/policies/examples/production.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["governed_pods"].size(), 2u);
  EXPECT_EQ(j["governed_pods"][0]["namespace_selector"]["match_labels"]["taogate.io/governed"],
            "true");
  EXPECT_EQ(j["governed_pods"][0]["pod_selector"]["match_expressions"][0]["operator"], "In");
  EXPECT_EQ(j["governed_pods"][1]["service_accounts"][1], "finance/refunds-agent");
}

}  // namespace
}  // namespace taogate::policies
