// A target's `mode: enforce | audit` (docs/audit-mode.md): loads, defaults to
// enforce, reaches the agents' wire form per entry, and is refused with its
// FILE:LINE:COL when misspelled or set on file/exec rules.
#include <gtest/gtest.h>

#include "policy_testing.h"

namespace taogate::policies {
namespace {

using namespace testing;

std::string Bundle(const std::string& target_extra) {
  return R"(version: 1
name: audit-bundle
roles: [{id: reporter}]
actors: [{identity: spiffe://t.example/sa/reporter, roles: [reporter]}]
workloads: [{id: any, selectors: {cgroup_paths: [/taogate]}}]
targets:
  - id: enforced-pg
    networks: [{cidrs: [10.0.0.5/32], ports: [5432], protocols: [tcp]}]
  - id: new-api
)" + target_extra + R"(
action_classes: [{id: db.read, ttl: 60s}]
rules:
  - {id: r, effect: allow, actors: ["*"], workloads: ["*"], actions: [db.read], targets: [new-api]}
)";
}

constexpr char kAuditedNet[] =
    "    mode: audit\n    networks: [{cidrs: [10.0.0.6/32], hosts: [api.example.org], ports: [443], "
    "protocols: [tcp]}]\n    unix_paths: [/run/api.sock]";

TEST(AuditModePolicyTest, AuditTargetIsExportedAuditedOthersEnforced) {
  auto p = Policy::Load(Bundle(kAuditedNet), "audit.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  auto set = (*p)->ProtectedTargets();
  ASSERT_EQ(set.networks.size(), 2u);
  for (const auto& n : set.networks) EXPECT_EQ(n.audit, n.target_id == "new-api") << n.target_id;
  ASSERT_EQ(set.names.size(), 1u);
  EXPECT_TRUE(set.names[0].audit);
  ASSERT_EQ(set.unix_paths.size(), 1u);
  EXPECT_TRUE(set.unix_paths[0].audit);
}

TEST(AuditModePolicyTest, EnforceIsTheDefaultAndMayBeWritten) {
  auto p = Policy::Load(Bundle("    mode: enforce\n    unix_paths: [/run/api.sock]"), "audit.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  auto set = (*p)->ProtectedTargets();
  ASSERT_EQ(set.unix_paths.size(), 1u);
  EXPECT_FALSE(set.unix_paths[0].audit);
  EXPECT_FALSE(set.networks[0].audit);
}

TEST(AuditModePolicyTest, UnknownModeIsRefusedAtItsPosition) {
  auto e = Errors(Bundle("    mode: monitor\n    unix_paths: [/run/api.sock]"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].line, 10);
  EXPECT_EQ(e[0].column, 11);
  EXPECT_EQ(e[0].path, "targets[1].mode");
  EXPECT_NE(e[0].message.find("enforce or audit"), std::string::npos) << e[0].ToString();
}

TEST(AuditModePolicyTest, AuditedFileOrExecRulesAreRefused) {
  for (const char* key : {"file_paths: [/etc/secret]", "binaries: [/usr/bin/psql]"}) {
    auto e = Errors(Bundle(std::string("    mode: audit\n    ") + key));
    ASSERT_EQ(e.size(), 1u) << key;
    EXPECT_EQ(e[0].path, "targets[1].mode");
    EXPECT_NE(e[0].message.find("networks and unix_paths only"), std::string::npos) << e[0].ToString();
  }
}

// A workload's `mode: audit`: its whole cgroups are audited on every target.
std::string WorkloadBundle(const std::string& workload) {
  return R"(version: 1
name: audit-workloads
workloads:
  - {id: enforced, selectors: {cgroup_paths: [/taogate/batch]}}
)" + workload + R"(
targets:
  - id: pg
    networks: [{cidrs: [10.0.0.5/32], ports: [5432], protocols: [tcp]}]
)";
}

TEST(AuditModePolicyTest, AuditedWorkloadLoadsOthersEnforced) {
  auto p = Policy::Load(WorkloadBundle("  - id: rollout\n    mode: audit\n    selectors: {cgroup_paths: "
                                       "[/taogate/new], nodes: [node-1], pod_labels: {app: canary}}"),
                        "audit.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  const policies::Bundle& b = (*p)->bundle();
  ASSERT_EQ(b.workloads.size(), 2u);
  EXPECT_FALSE(b.workloads[0].audit);
  EXPECT_TRUE(b.workloads[1].audit);
}

TEST(AuditModePolicyTest, AuditedWorkloadWithExeSelectorsIsRefused) {
  for (const char* sel : {"exe_paths: [/usr/bin/psql]", "exe_sha256: [" 
                          "0000000000000000000000000000000000000000000000000000000000000000]"}) {
    auto e = Errors(WorkloadBundle(std::string("  - id: rollout\n    mode: audit\n    selectors: {cgroup_paths: "
                                               "[/taogate/new], ") + sel + "}"));
    ASSERT_EQ(e.size(), 1u) << sel;
    EXPECT_EQ(e[0].path, "workloads[1].mode");
    EXPECT_EQ(e[0].line, 6);
    EXPECT_NE(e[0].message.find("whole workload cgroups"), std::string::npos) << e[0].ToString();
  }
}

TEST(AuditModePolicyTest, UnknownWorkloadModeIsRefused) {
  auto e = Errors(WorkloadBundle("  - id: rollout\n    mode: permissive\n    selectors: {cgroup_paths: [/x]}"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].path, "workloads[1].mode");
  EXPECT_NE(e[0].message.find("enforce or audit"), std::string::npos) << e[0].ToString();
}

}  // namespace
}  // namespace taogate::policies
