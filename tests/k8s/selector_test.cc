// Label selector semantics (metav1), validation, the bundle's YAML, and
// PodSelector::Governs on API objects.
#include <gtest/gtest.h>

#include "taogate/k8s/selector.h"

namespace taogate::k8s {
namespace {

LabelSelector Sel(const std::string& yaml) {
  auto s = ParseLabelSelector(YAML::Load(yaml));
  EXPECT_TRUE(s.ok()) << yaml << ": " << s.status();
  return s.ok() ? *s : LabelSelector::Nothing();
}

// The error message of parsing `yaml`, or "" if it parsed.
std::string SelError(const std::string& yaml) {
  auto s = ParseLabelSelector(YAML::Load(yaml));
  return s.ok() ? "" : std::string(s.status().message());
}

std::string PodSelError(const std::string& yaml) {
  auto s = ParsePodSelector(YAML::Load(yaml));
  return s.ok() ? "" : std::string(s.status().message());
}

const Labels kWeb = {{"app", "web"}, {"tier", "front"}};
const Labels kDb = {{"app", "db"}};

TEST(SelectorTest, EmptyMatchesEverythingNullMatchesNothing) {
  EXPECT_TRUE(Sel("{}").Matches({}));
  EXPECT_TRUE(Sel("{}").Matches(kWeb));
  EXPECT_FALSE(Sel("null").Matches({}));
  EXPECT_FALSE(Sel("~").Matches(kWeb));
  EXPECT_TRUE(Sel("null").matches_nothing());
}

TEST(SelectorTest, MatchLabelsNeedsEveryPair) {
  EXPECT_TRUE(Sel("matchLabels: {app: web}").Matches(kWeb));
  EXPECT_FALSE(Sel("matchLabels: {app: web}").Matches(kDb));
  EXPECT_FALSE(Sel("matchLabels: {app: web, tier: back}").Matches(kWeb));
  EXPECT_FALSE(Sel("matchLabels: {app: web}").Matches({}));
  EXPECT_TRUE(Sel("matchLabels: {app: ''}").Matches({{"app", ""}}));
}

TEST(SelectorTest, In) {
  LabelSelector s = Sel("matchExpressions: [{key: app, operator: In, values: [web, api]}]");
  EXPECT_TRUE(s.Matches(kWeb));
  EXPECT_FALSE(s.Matches(kDb));
  EXPECT_FALSE(s.Matches({}));
}

TEST(SelectorTest, NotInMatchesAbsentKey) {
  LabelSelector s = Sel("matchExpressions: [{key: app, operator: NotIn, values: [db]}]");
  EXPECT_TRUE(s.Matches(kWeb));
  EXPECT_FALSE(s.Matches(kDb));
  EXPECT_TRUE(s.Matches({}));
}

TEST(SelectorTest, ExistsAndDoesNotExist) {
  LabelSelector e = Sel("matchExpressions: [{key: tier, operator: Exists}]");
  LabelSelector d = Sel("matchExpressions: [{key: tier, operator: DoesNotExist, values: []}]");
  EXPECT_TRUE(e.Matches(kWeb));
  EXPECT_FALSE(e.Matches(kDb));
  EXPECT_FALSE(d.Matches(kWeb));
  EXPECT_TRUE(d.Matches(kDb));
  EXPECT_TRUE(e.Matches({{"tier", ""}}));
}

TEST(SelectorTest, LabelsAndExpressionsAreAnded) {
  LabelSelector s = Sel(R"(
matchLabels: {app: web}
matchExpressions:
  - {key: tier, operator: In, values: [front]}
  - {key: example.com/legacy, operator: DoesNotExist}
)");
  EXPECT_TRUE(s.Matches(kWeb));
  Labels legacy = kWeb;
  legacy["example.com/legacy"] = "true";
  EXPECT_FALSE(s.Matches(legacy));
  EXPECT_FALSE(s.Matches({{"app", "web"}, {"tier", "back"}}));
  EXPECT_FALSE(s.Matches({{"tier", "front"}}));
}

TEST(SelectorTest, KeyValidation) {
  EXPECT_TRUE(ValidateLabelKey("app").ok());
  EXPECT_TRUE(ValidateLabelKey("kubernetes.io/metadata.name").ok());
  EXPECT_TRUE(ValidateLabelKey("A_b.c-9").ok());
  EXPECT_FALSE(ValidateLabelKey("").ok());
  EXPECT_FALSE(ValidateLabelKey("-app").ok());
  EXPECT_FALSE(ValidateLabelKey("app-").ok());
  EXPECT_FALSE(ValidateLabelKey(std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateLabelKey(std::string(63, 'a')).ok());
  EXPECT_FALSE(ValidateLabelKey("Example.com/app").ok());
  EXPECT_FALSE(ValidateLabelKey("/app").ok());
  EXPECT_FALSE(ValidateLabelKey("example.com/").ok());
  EXPECT_FALSE(ValidateLabelKey("a/b/c").ok());
  EXPECT_FALSE(ValidateLabelKey("exa_mple.com/app").ok());
  EXPECT_FALSE(ValidateLabelKey(std::string(254, 'a') + "/app").ok());
  EXPECT_FALSE(ValidateLabelKey("app name").ok());
}

TEST(SelectorTest, ValueValidation) {
  EXPECT_TRUE(ValidateLabelValue("").ok());
  EXPECT_TRUE(ValidateLabelValue("v1.2_3-x").ok());
  EXPECT_TRUE(ValidateLabelValue(std::string(63, 'v')).ok());
  EXPECT_FALSE(ValidateLabelValue(std::string(64, 'v')).ok());
  EXPECT_FALSE(ValidateLabelValue("a/b").ok());
  EXPECT_FALSE(ValidateLabelValue(".x").ok());
  EXPECT_FALSE(ValidateLabelValue("x ").ok());
}

TEST(SelectorTest, ParseErrorsNameThePlace) {
  EXPECT_EQ(SelError("matchLabel: {app: web}"), "selector: unknown key 'matchLabel'");
  EXPECT_EQ(SelError("[app]"), "selector: is not a map");
  EXPECT_EQ(SelError("matchLabels: [app]"), "selector.matchLabels: is not a map");
  EXPECT_EQ(SelError("matchExpressions: {key: a}"), "selector.matchExpressions: is not a list");
  EXPECT_EQ(SelError("matchExpressions: [{key: a, operator: in, values: [x]}]"),
            "selector.matchExpressions[0].operator: unknown operator 'in' "
            "(In, NotIn, Exists, DoesNotExist)");
  EXPECT_EQ(SelError("matchExpressions: [{key: a}]"),
            "selector.matchExpressions[0].operator: has no operator");
  EXPECT_EQ(SelError("matchExpressions: [{operator: Exists}]"),
            "selector.matchExpressions[0]: has no key");
  EXPECT_EQ(SelError("matchExpressions: [{key: a, operator: Exists, value: [x]}]"),
            "selector.matchExpressions[0]: unknown key 'value'");
  EXPECT_EQ(SelError("matchExpressions: [{key: a, operator: In, values: x}]"),
            "selector.matchExpressions[0].values: is not a list");
}

TEST(SelectorTest, OperatorArityIsChecked) {
  EXPECT_EQ(SelError("matchExpressions: [{key: a, operator: In}]"),
            "selector: a: In and NotIn need at least one value");
  EXPECT_EQ(SelError("matchExpressions: [{key: a, operator: NotIn, values: []}]"),
            "selector: a: In and NotIn need at least one value");
  EXPECT_EQ(SelError("matchExpressions: [{key: a, operator: Exists, values: [x]}]"),
            "selector: a: Exists and DoesNotExist take no values");
}

TEST(SelectorTest, InvalidKeysAndValuesAreParseErrors) {
  EXPECT_NE(SelError("matchLabels: {'-bad': x}"), "");
  EXPECT_NE(SelError("matchLabels: {app: 'has space'}"), "");
  EXPECT_NE(SelError("matchExpressions: [{key: a, operator: In, values: ['a/b']}]"), "");
  EXPECT_NE(SelError("matchLabels: {app: " + std::string(64, 'x') + "}"), "");
}

TEST(SelectorTest, UnquotedNonStringsAreRefusedLikeTheApiServer) {
  EXPECT_EQ(SelError("matchLabels: {enabled: true}"),
            "selector.matchLabels.enabled: 'true' is not a string in YAML; quote it");
  EXPECT_NE(SelError("matchLabels: {v: 1}"), "");
  EXPECT_NE(SelError("matchLabels: {v: 1.5}"), "");
  EXPECT_NE(SelError("matchLabels: {v: ~}"), "");
  EXPECT_NE(SelError("matchExpressions: [{key: a, operator: In, values: [yes]}]"), "");
  EXPECT_TRUE(Sel("matchLabels: {enabled: 'true', v: \"1\", w: v1.2.3}").Matches(
      {{"enabled", "true"}, {"v", "1"}, {"w", "v1.2.3"}}));
}

// --- PodSelector::Governs: API facts only. ---

Pod MakePod(const std::string& ns, Labels labels, const std::string& sa = "app") {
  Pod p;
  p.uid = "0f3a9c2e-5b1d-4e7a-9c11-2b3c4d5e6f70";
  p.namespace_name = ns;
  p.name = "p";
  p.labels = std::move(labels);
  p.service_account = sa;
  return p;
}

Namespace MakeNs(const std::string& name, Labels labels) {
  labels["kubernetes.io/metadata.name"] = name;
  return Namespace{name, "ns-uid", std::move(labels)};
}

PodSelector PodSel(const std::string& yaml) {
  auto s = ParsePodSelector(YAML::Load(yaml));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : PodSelector{LabelSelector::Nothing(), LabelSelector::Nothing(), {}};
}

TEST(PodSelectorTest, NamespaceAndPodSelectorsAreAnded) {
  PodSelector s = PodSel(R"(
namespaceSelector: {matchLabels: {taogate.io/governed: "yes"}}
podSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
)");
  Namespace gov = MakeNs("shop", {{"taogate.io/governed", "yes"}});
  Namespace other = MakeNs("dev", {});
  EXPECT_TRUE(s.Governs(MakePod("shop", kWeb), gov));
  EXPECT_FALSE(s.Governs(MakePod("shop", kDb), gov));
  EXPECT_FALSE(s.Governs(MakePod("dev", kWeb), other));
}

TEST(PodSelectorTest, ServiceAccountsNarrowByNameOrNamespacedName) {
  PodSelector s = PodSel(R"(
namespaceSelector: {}
podSelector: {}
serviceAccounts: [payments, shop/default]
)");
  Namespace shop = MakeNs("shop", {}), dev = MakeNs("dev", {});
  EXPECT_TRUE(s.Governs(MakePod("dev", {}, "payments"), dev));
  EXPECT_TRUE(s.Governs(MakePod("shop", {}, "default"), shop));
  EXPECT_TRUE(s.Governs(MakePod("shop", {}, ""), shop));  // unset means "default"
  EXPECT_FALSE(s.Governs(MakePod("dev", {}, "default"), dev));
  EXPECT_FALSE(s.Governs(MakePod("dev", {}, "app"), dev));
}

TEST(PodSelectorTest, WrongNamespaceObjectGovernsNothing) {
  PodSelector s = PodSel("{namespaceSelector: {}, podSelector: {}}");
  EXPECT_TRUE(s.Governs(MakePod("shop", {}), MakeNs("shop", {})));
  EXPECT_FALSE(s.Governs(MakePod("shop", {}), MakeNs("dev", {})));
}

TEST(PodSelectorTest, AnyOfAList) {
  auto list = ParsePodSelectors(YAML::Load(R"(
- {namespaceSelector: {matchLabels: {team: a}}, podSelector: {}}
- {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}
)"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(AnyGoverns(*list, MakePod("x", kWeb), MakeNs("x", {{"team", "a"}})));
  EXPECT_TRUE(AnyGoverns(*list, MakePod("y", kDb), MakeNs("y", {})));
  EXPECT_FALSE(AnyGoverns(*list, MakePod("y", kWeb), MakeNs("y", {})));
  EXPECT_FALSE(AnyGoverns({}, MakePod("y", kWeb), MakeNs("y", {})));
}

TEST(PodSelectorTest, GovernsFollowsTheApiObjectNotACachedVerdict) {
  // Relabelling is the caller's concern: the verdict is recomputed from each
  // updated object; a pod patched out of the selector is no longer governed
  // by THIS selector, which is why the bundle should select on labels pods
  // cannot set (namespace labels, service accounts) -- see selector.h.
  PodSelector s = PodSel("{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}");
  Namespace ns = MakeNs("shop", {});
  Pod p = MakePod("shop", kWeb);
  EXPECT_TRUE(s.Governs(p, ns));
  p.labels["app"] = "other";
  EXPECT_FALSE(s.Governs(p, ns));
}

TEST(PodSelectorTest, ParseErrors) {
  EXPECT_EQ(PodSelError("{podSelector: {}}"),
            "pod selector.namespaceSelector: is required (write {} to match everything)");
  EXPECT_EQ(PodSelError("{namespaceSelector: {}, podSelector: null}"),
            "pod selector.podSelector: is required (write {} to match everything)");
  EXPECT_EQ(PodSelError("{namespaceSelector: {}, podSelector: {}, serviceAccount: [a]}"),
            "pod selector: unknown key 'serviceAccount'");
  EXPECT_EQ(PodSelError("{namespaceSelector: {}, podSelector: {}, serviceAccounts: a}"),
            "pod selector.serviceAccounts: is not a list");
  EXPECT_NE(PodSelError("{namespaceSelector: {}, podSelector: {}, serviceAccounts: [Bad_Name]}"),
            "");
  EXPECT_NE(PodSelError("{namespaceSelector: {}, podSelector: {}, serviceAccounts: [a.b/c]}"), "");
  EXPECT_NE(PodSelError("{namespaceSelector: {matchLabels: {a: b}, x: 1}, podSelector: {}}"), "");
  EXPECT_FALSE(ParsePodSelectors(YAML::Load("{namespaceSelector: {}}")).ok());
  EXPECT_EQ(ParsePodSelectors(YAML::Load("[{podSelector: {}}]")).status().message(),
            "pod selectors[0].namespaceSelector: is required (write {} to match everything)");
}

TEST(SelectorTest, MakeValidates) {
  EXPECT_FALSE(LabelSelector::Make({{"bad key", "v"}}, {}).ok());
  EXPECT_FALSE(LabelSelector::Make({}, {{"a", SelectorOp::kIn, {}}}).ok());
  EXPECT_TRUE(LabelSelector::Make({{"a", "b"}}, {{"c", SelectorOp::kExists, {}}}).ok());
  EXPECT_TRUE(LabelSelector::Everything().Matches({}));
  EXPECT_FALSE(LabelSelector::Nothing().Matches({}));
}

}  // namespace
}  // namespace taogate::k8s
