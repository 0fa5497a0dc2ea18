// The bundle's `hold:` section (hold mode, issue 17; docs/hold.md): what it
// accepts, where its errors point, and that file targets are refused (only
// connects are held).
#include <gtest/gtest.h>

#include "policy_testing.h"
#include "taogate/policies/loader.h"

namespace taogate::policies {
namespace {

using testing::Errors;

// The hold section's first entry is line 18.
std::string Bundle(const std::string& hold) {
  return R"(version: 1
name: held
workloads:
  - {id: tools, selectors: {cgroup_paths: [/taogate/tools], exe_paths: [/usr/bin/psql]}}
  - {id: pods, selectors: {pod_labels: {app: x}}}
targets:
  - id: db
    networks: [{cidrs: [10.0.0.1/32], ports: [5432], protocols: [tcp]}]
  - id: named
    networks: [{hosts: [db.prod.internal], ports: [5432], protocols: [tcp]}]
  - id: secrets
    file_paths: [/etc/secret]
action_classes:
  - {id: db.read, ttl: 60s}
rules:
  - {id: r, effect: allow, actors: ["*"], workloads: [tools], actions: [db.read], targets: [db]}
hold:
)" + hold;
}

std::string ErrorText(const std::string& yaml) {
  std::string out;
  for (const auto& e : Errors(yaml)) out += e.ToString() + "\n";
  return out;
}

TEST(HoldSection, RulesLoadInOrderWithTheirDefaults) {
  auto p = Policy::Load(Bundle(R"(  - {id: psql, workloads: [tools], targets: [db, named], action: db.read, max_hold: 2m}
  - {id: any, workloads: ["*"], targets: ["*"], action: db.read}
)"), "b.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& h = (*p)->bundle().hold;
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].id, "psql");
  EXPECT_EQ(h[0].max_hold_ms, 120'000u);
  EXPECT_EQ(h[0].targets.items.size(), 2u);
  EXPECT_TRUE(h[1].workloads.any);
  EXPECT_TRUE(h[1].targets.any);
  EXPECT_EQ(h[1].max_hold_ms, 30'000u);  // the default
}

TEST(HoldSection, APodWorkloadMayBeHeld) {
  auto p = Policy::Load(Bundle("  - {id: h, workloads: [pods], targets: [db], action: db.read}\n"), "b.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->bundle().hold.size(), 1u);
}

TEST(HoldSection, ErrorsPointAtTheirLine) {
  std::string e = ErrorText(Bundle("  - {id: h, workloads: [tools], targets: [db], action: db.read, max_hold: 0s}\n"));
  EXPECT_NE(e.find("b.yaml:18:"), std::string::npos) << e;
  EXPECT_NE(e.find("hold[0].max_hold"), std::string::npos) << e;
}

TEST(HoldSection, AFileTargetCannotBeHeld) {
  std::string e = ErrorText(Bundle("  - {id: h, workloads: [tools], targets: [secrets], action: db.read}\n"));
  EXPECT_NE(e.find("hold[0].targets: target 'secrets'"), std::string::npos) << e;
}

TEST(HoldSection, UnknownReferencesDuplicatesAndBadDurationsAreEachReported) {
  std::string e = ErrorText(Bundle(R"(  - {id: h, workloads: [nobody], targets: [db], action: db.read}
  - {id: h, workloads: [tools], targets: [db], action: db.write}
  - {id: k, workloads: [tools], targets: [db], action: db.read, max_hold: 2h}
  - {id: m, workloads: [tools], targets: [db]}
  - {id: n, workloads: [tools], targets: [db], action: db.read, hold_for: 1s}
)"));
  EXPECT_NE(e.find("b.yaml:18:"), std::string::npos) << e;  // unknown workload
  EXPECT_NE(e.find("unknown workload 'nobody'"), std::string::npos) << e;
  EXPECT_NE(e.find("duplicate hold rule 'h'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown action class 'db.write'"), std::string::npos) << e;
  EXPECT_NE(e.find("hold[2].max_hold"), std::string::npos) << e;
  EXPECT_NE(e.find("hold[3]"), std::string::npos) << e;  // action missing
  EXPECT_NE(e.find("hold[4]"), std::string::npos) << e;  // unknown key
}

}  // namespace
}  // namespace taogate::policies
