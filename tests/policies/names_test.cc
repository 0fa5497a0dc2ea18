// DNS names in a bundle's networks (`hosts`, docs/names.md): they load in
// canonical form, are exported as names, and match a request naming exactly
// that name (and port, protocol); an IP never matches a name entry and a
// name never matches a CIDR entry (the governor does not resolve).
#include <gtest/gtest.h>

#include "policy_testing.h"

namespace taogate::policies {
namespace {

using namespace testing;

// `net` is one entry of the `db` target's networks, `deny_net` one of the
// `db-admin` target's (denied by the first rule).
std::string Bundle(const std::string& net, const std::string& deny_net = "{hosts: [admin.prod.internal], "
                                                                         "ports: [5432], protocols: [tcp]}") {
  return R"(version: 1
name: names-bundle
roles: [{id: reporter}]
actors: [{identity: spiffe://t.example/sa/reporter, roles: [reporter]}]
workloads: [{id: any, selectors: {cgroup_paths: [/taogate]}}]
targets:
  - id: db
    networks: [)" + net + R"(]
  - id: db-admin
    networks: [)" + deny_net + R"(]
action_classes: [{id: db.read, ttl: 60s}]
rules:
  - {id: no-admin, effect: deny, actors: ["*"], workloads: ["*"], actions: [db.read], targets: [db-admin]}
  - {id: r, effect: allow, actors: ["*"], workloads: ["*"], actions: [db.read], targets: [db, db-admin]}
)";
}

std::shared_ptr<const Policy> Load(const std::string& net) {
  auto p = Policy::Load(Bundle(net), "names.yaml");
  if (!p.ok()) ADD_FAILURE() << p.status();
  return p.ok() ? *p : nullptr;
}

Decision Eval(const Policy& p, const std::string& target) {
  WorkloadAttributes w;
  w.node = "n1";
  w.cgroup_path = "/taogate/w";
  return p.Evaluate(Req(kReporter, "db.read", target, w));
}
Effect EffectOf(const Policy& p, const std::string& target) { return Eval(p, target).effect; }

std::string OneError(const std::string& yaml) {
  auto e = Errors(yaml);
  if (e.size() != 1) return "errors: " + std::to_string(e.size());
  return e[0].ToString();
}

TEST(PolicyNamesTest, NameMatchesExactlyThatNamePortAndProtocol) {
  auto p = Load("{hosts: [db.prod.internal], ports: [5432, 6000-6010], protocols: [tcp]}");
  ASSERT_TRUE(p);
  EXPECT_EQ(EffectOf(*p, "tcp:db.prod.internal:5432"), Effect::kPermit);
  EXPECT_EQ(EffectOf(*p, "tcp:DB.prod.internal.:6005"), Effect::kPermit);  // canonical form
  EXPECT_EQ(Eval(*p, "tcp:db.prod.internal:5432").rule_id, "r");
  EXPECT_EQ(EffectOf(*p, "tcp:db.prod.internal:5433"), Effect::kDeny);
  EXPECT_EQ(EffectOf(*p, "udp:db.prod.internal:5432"), Effect::kDeny);
  EXPECT_EQ(EffectOf(*p, "tcp:replica.db.prod.internal:5432"), Effect::kDeny);  // no suffix matching
  EXPECT_EQ(EffectOf(*p, "tcp:prod.internal:5432"), Effect::kDeny);
}

TEST(PolicyNamesTest, IpNeverMatchesANameEntry) {
  auto p = Load("{hosts: [db.prod.internal], ports: [5432], protocols: [tcp]}");
  ASSERT_TRUE(p);
  for (const char* t : {"tcp:10.0.0.5:5432", "tcp:127.0.0.1:5432", "tcp:0.0.0.0:5432", "tcp:[::]:5432"})
    EXPECT_EQ(Eval(*p, t).reason, "target is not protected by this bundle") << t;
}

TEST(PolicyNamesTest, NameNeverMatchesACidrEntry) {
  auto p = Load("{cidrs: [0.0.0.0/0, \"::/0\"], ports: [5432], protocols: [tcp]}");
  ASSERT_TRUE(p);
  EXPECT_EQ(EffectOf(*p, "tcp:10.0.0.5:5432"), Effect::kPermit);
  EXPECT_EQ(Eval(*p, "tcp:db.prod.internal:5432").reason, "target is not protected by this bundle");
}

TEST(PolicyNamesTest, DenyRuleOnANameWins) {
  auto p = Load("{hosts: [db.prod.internal], ports: [5432], protocols: [tcp]}");
  ASSERT_TRUE(p);
  Decision d = Eval(*p, "tcp:admin.prod.internal:5432");
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "no-admin");
}

TEST(PolicyNamesTest, CidrsAndHostsInOneEntry) {
  auto p = Load("{cidrs: [10.0.0.0/8], hosts: [db.prod.internal], ports: [5432], protocols: [tcp, udp]}");
  ASSERT_TRUE(p);
  EXPECT_EQ(EffectOf(*p, "tcp:10.1.2.3:5432"), Effect::kPermit);
  EXPECT_EQ(EffectOf(*p, "udp:db.prod.internal:5432"), Effect::kPermit);
}

TEST(PolicyNamesTest, ExportsNamesCanonicalAndApart) {
  auto p = Load("{hosts: [DB.Prod.Internal.], ports: [5432], protocols: [tcp]}");
  ASSERT_TRUE(p);
  auto set = p->ProtectedTargets();
  EXPECT_TRUE(set.networks.empty());
  ASSERT_EQ(set.names.size(), 2u);  // db and db-admin
  EXPECT_EQ(set.names[0].target_id, "db");
  EXPECT_EQ(set.names[0].range.host, "db.prod.internal");
  EXPECT_EQ(set.names[0].range.port_lo, 5432);
  EXPECT_TRUE(set.names[0].range.tcp);
  EXPECT_FALSE(set.names[0].range.udp);
}

TEST(PolicyNamesTest, BadNamesAreRefusedWithTheirPosition) {
  const std::string base = "{hosts: [db.prod.internal, X], ports: [5432], protocols: [tcp]}";
  struct Case {
    const char* host;
    const char* message;
  };
  for (const Case& c : {Case{"db", "single-label"}, Case{"\"*.prod.internal\"", "wildcard"},
                        Case{"db_1.internal", "bad character"}, Case{"10.0.0.5", "last label is not all digits"},
                        Case{"-db.internal", "starts or ends with '-'"}}) {
    std::string net = base;
    net.replace(net.find(", X]"), 4, std::string(", ") + c.host + "]");
    std::string e = OneError(Bundle(net));
    EXPECT_NE(e.find("b.yaml:"), std::string::npos) << e;
    EXPECT_NE(e.find("targets[0].networks[0].hosts[1]: "), std::string::npos) << c.host << ": " << e;
    EXPECT_NE(e.find(c.message), std::string::npos) << c.host << ": " << e;
  }
}

TEST(PolicyNamesTest, ErrorsCarryLineAndColumn) {
  std::string e = OneError(Bundle("{hosts: [a..b], ports: [5432], protocols: [tcp]}"));
  // Line 8 of the bundle, the column of the bad entry.
  EXPECT_NE(e.find("b.yaml:8:"), std::string::npos) << e;
  EXPECT_NE(e.find("empty label"), std::string::npos) << e;
}

TEST(PolicyNamesTest, ANetworkNeedsCidrsOrHosts) {
  EXPECT_NE(OneError(Bundle("{ports: [5432], protocols: [tcp]}")).find("a network needs cidrs or hosts"),
            std::string::npos);
  EXPECT_NE(OneError(Bundle("{hosts: [], ports: [5432], protocols: [tcp]}")).find("hosts"), std::string::npos);
  EXPECT_NE(OneError(Bundle("{hosts: [a.b], names: [c.d], ports: [5432], protocols: [tcp]}")).find("names"),
            std::string::npos);
}

}  // namespace
}  // namespace taogate::policies
