// Evaluate against the fixture bundle, mostly as attacks: every way a request
// could be stretched beyond what a rule grants must come back DENY.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "policy_testing.h"
#include "taogate/common/crypto.h"

namespace taogate::policies {
namespace {

using namespace testing;

class EvaluateTest : public ::testing::Test {
 protected:
  Decision Eval(const Request& r) { return policy_->Evaluate(r); }
  std::shared_ptr<const Policy> policy_ = TestPolicy();
};

TEST_F(EvaluateTest, PermitNamesRuleAndTakesShorterTtl) {
  Decision d = Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kPermit) << d.reason;
  EXPECT_EQ(d.rule_id, "allow-reads");
  EXPECT_EQ(d.ttl, std::chrono::seconds(20));  // rule 20s < class 60s
  EXPECT_FALSE(d.approval.has_value());
}

TEST_F(EvaluateTest, DecisionCarriesBundleHash) {
  Decision d = Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", ReporterPod()));
  EXPECT_EQ(d.bundle_sha256, crypto::Sha256(TestBundleYaml()));
  EXPECT_EQ(d.bundle_sha256, policy_->hash());
}

TEST_F(EvaluateTest, ExplicitDenyBeatsEarlierAllow) {
  // plugin has role reporter, so allow-reads (declared first) matches too.
  Decision d = Eval(Req(kPlugin, "db.read", "tcp:10.20.0.5:5432", ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "plugin-never");
  EXPECT_EQ(d.ttl.count(), 0);
}

TEST_F(EvaluateTest, DenyByRoleBeatsAllowByActor) {
  // writer-also-allowed does not list secrets, but a wildcard would not help:
  // no-secrets-for-writers denies by role whatever else matches.
  Decision d = Eval(Req(kWriter, "secrets.read", "file:/etc/fin/key.pem", WriterCg()));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "no-secrets-for-writers");
}

TEST_F(EvaluateTest, RequireApprovalBeatsAllowAndCarriesRequirement) {
  Decision d = Eval(Req(kWriter, "db.write", "tcp:10.20.0.9:5432", WriterCg()));
  ASSERT_EQ(d.effect, Effect::kRequireApproval) << d.reason;
  EXPECT_EQ(d.rule_id, "writes-need-approval");
  ASSERT_TRUE(d.approval.has_value());
  EXPECT_EQ(d.approval->count, 2u);
  EXPECT_EQ(d.approval->roles, std::vector<std::string>{"dba"});
  EXPECT_EQ(d.ttl, std::chrono::seconds(30));
}

TEST_F(EvaluateTest, NoMatchingRuleIsDefaultDeny) {
  Decision d = Eval(Req(kReporter, "db.write", "tcp:10.20.0.5:5432", ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "");
}

TEST_F(EvaluateTest, UnknownActorDeniedEvenByWildcardRules) {
  Decision d = Eval(Req("spiffe://t.example/sa/stranger", "db.read", "tcp:10.20.0.5:5432",
                        ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_NE(d.reason.find("unknown actor"), std::string::npos);
}

TEST_F(EvaluateTest, UnknownActionDenied) {
  EXPECT_EQ(Eval(Req(kReporter, "db.READ", "tcp:10.20.0.5:5432", ReporterPod())).effect,
            Effect::kDeny);
}

TEST_F(EvaluateTest, UnprotectedTargetDenied) {
  Decision d = Eval(Req(kReporter, "db.read", "tcp:10.21.0.5:5432", ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_NE(d.reason.find("not protected"), std::string::npos);
}

TEST_F(EvaluateTest, MalformedTargetDenied) {
  Request r = Req(kReporter, "db.read", "tcp:10.20.0.5:5432", ReporterPod());
  r.target.address = "10.20.0.999";
  EXPECT_EQ(Eval(r).effect, Effect::kDeny);
  r = Req(kReporter, "secrets.read", "file:/etc/fin/key.pem", ReporterPod());
  r.target.path = "/etc/fin/secrets/../../passwd";
  EXPECT_EQ(Eval(r).effect, Effect::kDeny);
}

TEST_F(EvaluateTest, WrongPortOrProtocolIsNotTheTarget) {
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5433", ReporterPod())).effect,
            Effect::kDeny);
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "udp:10.20.0.5:5432", ReporterPod())).effect,
            Effect::kDeny);
}

TEST_F(EvaluateTest, Ipv6CidrMatches) {
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:[fd00:20::abcd]:5432", ReporterPod())).effect,
            Effect::kPermit);
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:[fd00:21::1]:5432", ReporterPod())).effect,
            Effect::kDeny);
}

TEST_F(EvaluateTest, PortRangeEdges) {
  WorkloadAttributes w = WriterCg();
  EXPECT_EQ(Eval(Req(kWriter, "api.call", "tcp:10.30.0.7:8443", w)).effect, Effect::kPermit);
  EXPECT_EQ(Eval(Req(kWriter, "api.call", "udp:10.30.0.7:8444", w)).effect, Effect::kPermit);
  EXPECT_EQ(Eval(Req(kWriter, "api.call", "tcp:10.30.0.7:8445", w)).effect, Effect::kDeny);
  EXPECT_EQ(Eval(Req(kWriter, "api.call", "tcp:10.30.0.7:8442", w)).effect, Effect::kDeny);
}

TEST_F(EvaluateTest, WorkloadSelectorsAllMustHold) {
  WorkloadAttributes w = ReporterPod();
  w.node = "node-b";
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", w)).effect, Effect::kDeny);
  w = ReporterPod();
  w.pod_labels["app"] = "other";
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", w)).effect, Effect::kDeny);
  w = ReporterPod();
  w.pod_labels.clear();
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", w)).effect, Effect::kDeny);
}

TEST_F(EvaluateTest, CgroupSelectorMatchesDescendantsNotSiblingPrefixes) {
  WorkloadAttributes w = ReporterPod();
  w.cgroup_path = "/taogate/reporter";
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", w)).effect, Effect::kPermit);
  w.cgroup_path = "/taogate/reporter-evil";  // string prefix, not a descendant
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", w)).effect, Effect::kDeny);
  w.cgroup_path = "/taogate";
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "tcp:10.20.0.5:5432", w)).effect, Effect::kDeny);
}

TEST_F(EvaluateTest, FileDirectoryTargetCoversDescendantsOnly) {
  WorkloadAttributes w = ReporterPod();
  EXPECT_EQ(Eval(Req(kReporter, "secrets.read", "file:/etc/fin/secrets/a/b", w)).effect,
            Effect::kPermit);
  EXPECT_EQ(Eval(Req(kReporter, "secrets.read", "file:/etc/fin/secrets", w)).effect,
            Effect::kPermit);
  Decision d = Eval(Req(kReporter, "secrets.read", "file:/etc/fin/secretsX", w));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_NE(d.reason.find("not protected"), std::string::npos);
}

TEST_F(EvaluateTest, UnixSocketTarget) {
  EXPECT_EQ(Eval(Req(kReporter, "db.read", "unix:/run/pg/.s.PGSQL.5432", ReporterPod())).effect,
            Effect::kPermit);
}

TEST_F(EvaluateTest, GrantMustCoverEveryTargetSharingTheAddress) {
  // 10.20.0.100 is both orders-db (10.20.0.0/24) and shared-lb. allow-reads
  // names only orders-db; granting would open shared-lb too.
  Decision d = Eval(Req(kReporter, "db.read", "tcp:10.20.0.100:5432", ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kDeny) << d.reason;
}

TEST_F(EvaluateTest, ProtectedTargetsExport) {
  ProtectedTargetSet s = policy_->ProtectedTargets();
  ASSERT_EQ(s.networks.size(), 4u);  // 2 cidrs x 1 port + 1 + 1
  EXPECT_EQ(s.networks[0].target_id, "orders-db");
  EXPECT_EQ(s.networks[0].range.prefix_len, 24);
  EXPECT_EQ(s.networks[1].range.family, 6);
  EXPECT_EQ(s.networks[2].range.port_lo, 8443);
  EXPECT_EQ(s.networks[2].range.port_hi, 8444);
  EXPECT_TRUE(s.networks[2].range.udp);
  ASSERT_EQ(s.unix_paths.size(), 1u);
  ASSERT_EQ(s.file_paths.size(), 2u);
  EXPECT_TRUE(s.file_paths[0].prefix);
  EXPECT_FALSE(s.file_paths[1].prefix);
  ASSERT_EQ(s.binaries.size(), 1u);
  EXPECT_EQ(s.binaries[0].path, "/usr/bin/psql");
}

}  // namespace
}  // namespace taogate::policies

namespace taogate::policies {
namespace {

using namespace testing;

TEST(EvaluateAttackTest, V4MappedAddressCannotDodgeADeny) {
  auto p = TestPolicy();
  Decision d = p->Evaluate(Req(kPlugin, "db.read", "tcp:[::ffff:10.20.0.5]:5432", ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "plugin-never");  // matched as orders-db, not "unprotected"
  d = p->Evaluate(Req(kReporter, "db.read", "tcp:[::ffff:10.20.0.5]:5432", ReporterPod()));
  EXPECT_EQ(d.effect, Effect::kPermit);
}

TEST(EvaluateAttackTest, ConcurrentEvaluationMatchesSerial) {
  auto p = TestPolicy();
  std::vector<Request> reqs = {
      Req(kReporter, "db.read", "tcp:10.20.0.5:5432", ReporterPod()),
      Req(kPlugin, "db.read", "tcp:10.20.0.5:5432", ReporterPod()),
      Req(kWriter, "db.write", "tcp:10.20.0.9:5432", WriterCg()),
      Req(kWriter, "api.call", "udp:10.30.0.7:8444", WriterCg()),
  };
  std::vector<Decision> serial;
  for (const auto& r : reqs) serial.push_back(p->Evaluate(r));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        size_t k = (i + t) % reqs.size();
        Decision d = p->Evaluate(reqs[k]);
        if (d.effect != serial[k].effect || d.rule_id != serial[k].rule_id) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace taogate::policies
