// A real taogate-governor ships the active bundle's governed_pods to agents
// with the protected targets (WatchProtectedTargets), in the wire form an
// agent re-validates (k8s/selector_proto.h); a bundle with a bad selector is
// refused with its position and changes nothing.
#include <gtest/gtest.h>

#include "governance/governor_testing.h"
#include "k8s/pod_testing.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/selector_proto.h"

namespace taogate::governance::testing {
namespace {

using k8s::testing::TestNamespace;
using k8s::testing::TestPod;

constexpr char kGovernedPods[] = R"(governed_pods:
  - namespaceSelector: {matchLabels: {taogate.io/governed: "true"}}
    podSelector: {matchExpressions: [{key: app, operator: In, values: [agent]}]}
    serviceAccounts: [ai-agent, tools/runner]
  - namespaceSelector: {}
    podSelector: {matchLabels: {taogate.io/role: ai-agent}}
)";

class GovernorPodsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(gov_.Start()) << gov_.error(); }

  v1::ActivatePolicyResponse Activate(const std::string& yaml, const std::string& name) {
    v1::ActivatePolicyRequest req;
    req.set_bundle_yaml(yaml);
    req.set_name(name);
    v1::ActivatePolicyResponse r;
    grpc::ClientContext ctx;
    EXPECT_TRUE(gov_.Client(kAdmin)->ActivatePolicy(&ctx, req, &r).ok());
    return r;
  }

  // node-a's protected-target stream, for 20 s at most.
  std::unique_ptr<grpc::ClientReader<v1::ProtectedTargets>> Watch(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::WatchProtectedTargetsRequest wr;
    wr.set_node_id("node-a");
    return gov_.Client(kAgent)->WatchProtectedTargets(&ctx, wr);
  }

  GovernorProcess gov_;
};

TEST_F(GovernorPodsTest, WatchShipsTheActiveBundlesSelectors) {
  grpc::ClientContext wctx;
  auto reader = Watch(wctx);
  v1::ProtectedTargets first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.governed_pods_size(), 0);  // the start bundle governs no pod

  const std::string with_pods = TestPolicy(gov_.ApproverPublicKeys()) + kGovernedPods;
  v1::ActivatePolicyResponse r = Activate(with_pods, "pods.yaml");
  ASSERT_TRUE(r.errors().empty()) << r.errors(0);
  v1::ProtectedTargets next;
  ASSERT_TRUE(reader->Read(&next));
  EXPECT_EQ(next.policy_sha256(), r.policy_sha256());
  EXPECT_EQ(next.targets_size(), first.targets_size());
  ASSERT_EQ(next.governed_pods_size(), 2);
  const v1::GovernedPodSelector& g = next.governed_pods(0);
  EXPECT_EQ(g.namespace_selector().match_labels().at("taogate.io/governed"), "true");
  ASSERT_EQ(g.pod_selector().match_expressions_size(), 1);
  EXPECT_EQ(g.pod_selector().match_expressions(0).operator_(), "In");
  EXPECT_EQ(g.service_accounts(1), "tools/runner");
  EXPECT_TRUE(next.governed_pods(1).has_namespace_selector());  // {} stays set: everything

  // What an agent does with it: re-validate, then classify on API facts.
  auto sel = k8s::FromProto(next.governed_pods());
  ASSERT_TRUE(sel.ok()) << sel.status();
  const k8s::Namespace gov = TestNamespace("tools", {{"taogate.io/governed", "true"}});
  const k8s::Namespace plain = TestNamespace("tools", {});
  EXPECT_TRUE(k8s::AnyGoverns(*sel, TestPod("tools", {{"app", "agent"}}, "runner"), gov));
  EXPECT_FALSE(k8s::AnyGoverns(*sel, TestPod("tools", {{"app", "agent"}}, "runner"), plain));
  EXPECT_FALSE(k8s::AnyGoverns(*sel, TestPod("tools", {{"app", "agent"}}, "default"), gov));
  EXPECT_TRUE(
      k8s::AnyGoverns(*sel, TestPod("tools", {{"taogate.io/role", "ai-agent"}}, "x"), plain));

  // The old bundle again: the selectors go away with it.
  r = Activate(TestPolicy(gov_.ApproverPublicKeys()) + "# again\n", "v3.yaml");
  ASSERT_TRUE(r.errors().empty()) << r.errors(0);
  ASSERT_TRUE(reader->Read(&next));
  EXPECT_EQ(next.governed_pods_size(), 0);
  wctx.TryCancel();
}

// Audit mode per workload: a workload with `mode: audit` reaches agents as
// ProtectedTargets.audit_workloads with its selectors; the others do not.
TEST_F(GovernorPodsTest, WatchShipsTheAuditedWorkloads) {
  grpc::ClientContext wctx;
  auto reader = Watch(wctx);
  v1::ProtectedTargets first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.audit_workloads_size(), 0);
  std::string yaml = TestPolicy(gov_.ApproverPublicKeys());
  const std::string entry = "workloads:\n  - id: rollout\n    mode: audit\n    selectors:\n"
                            "      nodes: [node-a]\n      namespaces: [agents]\n      pod_labels: {app: canary}\n";
  ASSERT_NE(yaml.find("workloads:\n"), std::string::npos);
  yaml.replace(yaml.find("workloads:\n"), 11, entry);
  v1::ActivatePolicyResponse r = Activate(yaml, "audit.yaml");
  ASSERT_TRUE(r.errors().empty()) << r.errors(0);
  v1::ProtectedTargets next;
  ASSERT_TRUE(reader->Read(&next));
  ASSERT_EQ(next.audit_workloads_size(), 1) << next.DebugString();
  const v1::HoldWorkload& w = next.audit_workloads(0);
  EXPECT_EQ(w.id(), "rollout");
  EXPECT_EQ(w.nodes(0), "node-a");
  EXPECT_EQ(w.namespaces(0), "agents");
  EXPECT_EQ(w.pod_labels().at("app"), "canary");
  wctx.TryCancel();
}

TEST_F(GovernorPodsTest, BadSelectorIsRefusedWithItsPositionAndTheBundleStays) {
  const std::string base = TestPolicy(gov_.ApproverPublicKeys());
  std::string bad = base + kGovernedPods;
  bad.replace(bad.find("operator: In"), 12, "operator: Like");
  int line = 1;
  for (char c : bad.substr(0, bad.find("Like"))) line += c == '\n';
  v1::ActivatePolicyResponse r = Activate(bad, "bad.yaml");
  ASSERT_EQ(r.errors_size(), 1);
  EXPECT_TRUE(r.errors(0).starts_with(StrCat("bad.yaml:", line, ":"))) << r.errors(0);
  EXPECT_NE(r.errors(0).find("governed_pods[0].podSelector.matchExpressions[0].operator: "
                             "unknown operator 'Like'"),
            std::string::npos)
      << r.errors(0);
  EXPECT_EQ(r.policy_sha256(), ToHex(crypto::Sha256(base)));
}

}  // namespace
}  // namespace taogate::governance::testing
