// k8s::PodSelector <-> v1::GovernedPodSelector: what an agent receives is
// checked as strictly as the bundle's YAML; a tampered selector is refused,
// never read as "everything" or "nothing".
#include "taogate/k8s/selector_proto.h"

#include <gtest/gtest.h>

#include "k8s/pod_testing.h"

namespace taogate::k8s {
namespace {

using testing::TestNamespace;
using testing::TestPod;

PodSelector Parse(const std::string& yaml) {
  auto s = ParsePodSelector(YAML::Load(yaml));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : PodSelector{LabelSelector::Nothing(), LabelSelector::Nothing(), {}};
}

// The wire form of a valid selector, for the tests to tamper with.
v1::GovernedPodSelector Wire() {
  return ToProto(Parse(R"(
namespaceSelector: {matchLabels: {taogate.io/governed: "true"}}
podSelector:
  matchLabels: {tier: front}
  matchExpressions:
    - {key: app, operator: In, values: [agent, tools]}
    - {key: legacy, operator: DoesNotExist}
serviceAccounts: [ai-agent, tools/runner]
)"));
}

std::string Refusal(const v1::GovernedPodSelector& m) {
  auto s = FromProto(m);
  return s.ok() ? "" : std::string(s.status().message());
}

TEST(SelectorProtoTest, WireFormIsTheBundleForm) {
  v1::GovernedPodSelector m = Wire();
  ASSERT_TRUE(m.has_namespace_selector() && m.has_pod_selector());
  EXPECT_EQ(m.namespace_selector().match_labels().at("taogate.io/governed"), "true");
  ASSERT_EQ(m.pod_selector().match_expressions_size(), 2);
  EXPECT_EQ(m.pod_selector().match_expressions(0).operator_(), "In");
  EXPECT_EQ(m.pod_selector().match_expressions(0).values_size(), 2);
  EXPECT_EQ(m.pod_selector().match_expressions(1).operator_(), "DoesNotExist");
  EXPECT_EQ(m.service_accounts(1), "tools/runner");
}

TEST(SelectorProtoTest, RoundTripKeepsEveryVerdict) {
  PodSelector original = Parse(R"(
namespaceSelector: {matchLabels: {taogate.io/governed: "true"}}
podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [db]}]}
serviceAccounts: [ai-agent, tools/runner]
)");
  auto back = FromProto(ToProto(original));
  ASSERT_TRUE(back.ok()) << back.status();
  const Namespace gov = TestNamespace("tools", {{"taogate.io/governed", "true"}});
  const Namespace plain = TestNamespace("tools", {});
  for (const Pod& p :
       {TestPod("tools", {{"app", "agent"}}, "runner"), TestPod("tools", {{"app", "db"}}, "runner"),
        TestPod("tools", {}, "ai-agent"), TestPod("tools", {}, "default")}) {
    for (const Namespace& ns : {gov, plain}) {
      EXPECT_EQ(back->Governs(p, ns), original.Governs(p, ns)) << p.service_account;
    }
  }
  EXPECT_TRUE(back->Governs(TestPod("tools", {{"app", "agent"}}, "runner"), gov));
}

TEST(SelectorProtoTest, EmptySelectorsStayEverything) {
  auto back = FromProto(ToProto(Parse("{namespaceSelector: {}, podSelector: {}}")));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->Governs(TestPod("a", {}, "x"), TestNamespace("a", {})));
}

TEST(SelectorProtoTest, UnsetSelectorIsRefusedNotNothingOrEverything) {
  v1::GovernedPodSelector m = Wire();
  m.clear_pod_selector();
  EXPECT_EQ(Refusal(m), "pod_selector: is required (an empty selector {} matches everything)");
  m = Wire();
  m.clear_namespace_selector();
  EXPECT_NE(Refusal(m).find("namespace_selector: is required"), std::string::npos);
}

TEST(SelectorProtoTest, NothingIsWrittenUnsetSoTheAgentRefusesIt) {
  PodSelector s = Parse("{namespaceSelector: {}, podSelector: {}}");
  s.pod_selector = LabelSelector::Nothing();
  EXPECT_NE(Refusal(ToProto(s)), "");
}

TEST(SelectorProtoTest, TamperedOperatorIsRefused) {
  v1::GovernedPodSelector m = Wire();
  m.mutable_pod_selector()->mutable_match_expressions(0)->set_operator_("Like");
  EXPECT_EQ(Refusal(m),
            "pod_selector: match_expressions[0].operator: unknown operator 'Like' "
            "(In, NotIn, Exists, DoesNotExist)");
  m.mutable_pod_selector()->mutable_match_expressions(0)->set_operator_("in");
  EXPECT_NE(Refusal(m), "");
  m.mutable_pod_selector()->mutable_match_expressions(0)->set_operator_("");
  EXPECT_NE(Refusal(m), "");
}

TEST(SelectorProtoTest, InWithoutValuesIsRefused) {
  v1::GovernedPodSelector m = Wire();
  m.mutable_pod_selector()->mutable_match_expressions(0)->clear_values();
  EXPECT_EQ(Refusal(m), "pod_selector: app: In and NotIn need at least one value");
  m = Wire();
  m.mutable_pod_selector()->mutable_match_expressions(1)->add_values("x");
  EXPECT_EQ(Refusal(m), "pod_selector: legacy: Exists and DoesNotExist take no values");
}

TEST(SelectorProtoTest, BadLabelKeysAndValuesAreRefused) {
  v1::GovernedPodSelector m = Wire();
  (*m.mutable_namespace_selector()->mutable_match_labels())["Bad Key"] = "x";
  EXPECT_NE(Refusal(m).find("namespace_selector: label key 'Bad Key'"), std::string::npos)
      << Refusal(m);
  m = Wire();
  m.mutable_pod_selector()->mutable_match_expressions(0)->set_key("-app");
  EXPECT_NE(Refusal(m).find("label key '-app'"), std::string::npos) << Refusal(m);
  m = Wire();
  m.mutable_pod_selector()->mutable_match_expressions(0)->set_values(0, "a/b");
  EXPECT_NE(Refusal(m).find("label value 'a/b'"), std::string::npos) << Refusal(m);
  m = Wire();
  (*m.mutable_pod_selector()->mutable_match_labels())["tier"] = std::string(64, 'v');
  EXPECT_NE(Refusal(m), "");
}

TEST(SelectorProtoTest, BadServiceAccountIsRefused) {
  v1::GovernedPodSelector m = Wire();
  m.set_service_accounts(0, "Bad_Name");
  EXPECT_NE(Refusal(m).find("service_accounts[0]: service account 'Bad_Name'"), std::string::npos)
      << Refusal(m);
  m.set_service_accounts(0, "");
  EXPECT_NE(Refusal(m), "");
  m.set_service_accounts(0, "a.b/c");
  EXPECT_NE(Refusal(m), "");
}

TEST(SelectorProtoTest, OneBadEntryRefusesTheList) {
  v1::ProtectedTargets t;
  *t.add_governed_pods() = Wire();
  *t.add_governed_pods() = Wire();
  auto all = FromProto(t.governed_pods());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 2u);
  t.mutable_governed_pods(1)->mutable_pod_selector()->mutable_match_expressions(0)->set_operator_(
      "Like");
  auto bad = FromProto(t.governed_pods());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(std::string(bad.status().message()).starts_with("governed_pods[1]: pod_selector: "))
      << bad.status();
  EXPECT_TRUE(FromProto(v1::ProtectedTargets().governed_pods())->empty());
}

TEST(SelectorProtoTest, TooManyEntriesAreRefused) {
  v1::ProtectedTargets t;
  for (size_t i = 0; i < kMaxGovernedPodSelectors; ++i) *t.add_governed_pods() = Wire();
  EXPECT_TRUE(FromProto(t.governed_pods()).ok());
  *t.add_governed_pods() = Wire();
  EXPECT_EQ(FromProto(t.governed_pods()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace taogate::k8s
