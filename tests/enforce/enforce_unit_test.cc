#include <gtest/gtest.h>

#include "taogate/enforce/enforcer.h"

namespace taogate::enforce {
namespace {

using bpf::HookState;

TEST(ParseFileRule, ModesAndSubtree) {
  auto r = ParseFileRule("r:/var/lib/app/db.sqlite");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path, "/var/lib/app/db.sqlite");
  EXPECT_EQ(r->deny, bpf::TG_DENY_READ);
  EXPECT_FALSE(r->subtree);
  r = ParseFileRule("w:/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deny, bpf::TG_DENY_WRITE);
  r = ParseFileRule("rw:/etc/creds//");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deny, uint32_t{bpf::TG_DENY_READ | bpf::TG_DENY_WRITE});
  EXPECT_TRUE(r->subtree);
  EXPECT_EQ(r->path, "/etc/creds");
}

TEST(ParseFileRule, RefusesBadSpecsWithTheReason) {
  for (const char* bad : {"/no/mode", "x:/a", "w:relative", "w:", "rwx:/a", ""}) {
    auto r = ParseFileRule(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(std::string(ParseFileRule("x:/a").status().message()).find("mode must be"), std::string::npos);
}

TEST(ParseExecRule, AbsoluteFileOnly) {
  auto r = ParseExecRule("/usr/bin/psql");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deny, bpf::TG_DENY_EXEC);
  EXPECT_FALSE(ParseExecRule("psql").ok());
  EXPECT_FALSE(ParseExecRule("/usr/bin/").ok());
  EXPECT_FALSE(ParseExecRule("").ok());
}

bpf::ProbeReport GateReport(HookState file_state) {
  bpf::ProbeReport r;
  for (const char* n : {"connect4", "connect6", "sendmsg4", "sendmsg6", "connect_unix", "sendmsg_unix",
                        "skb_egress", "skb_ingress"})
    r.hooks.push_back({n, HookState::kEnforcing, ""});
  r.hooks.push_back({"file_open", file_state, "kill-on-syscall"});
  r.hooks.push_back({"exec", file_state, "kill-on-syscall"});
  return r;
}

const Capability& Row(const std::vector<Capability>& rows, const std::string& name) {
  for (const auto& c : rows)
    if (c.name == name) return c;
  static Capability none;
  ADD_FAILURE() << "no row " << name;
  return none;
}

TEST(ProbeCapabilities, WithoutLsmFilesAndExecAreDegradedSelfProtectionAbsent) {
  bpflsm::LsmProbe lsm;
  lsm.attach_ok = false;
  lsm.detail = "attach lsm/file_open: Operation not permitted";
  auto rows = ProbeCapabilities(GateReport(HookState::kDegraded), lsm, false);
  EXPECT_EQ(Row(rows, "network-inet").state, HookState::kEnforcing);
  EXPECT_EQ(Row(rows, "network-inet").mechanism, Mechanism::kCgroupHooks);
  // Unix targets match a literal path only.
  EXPECT_EQ(Row(rows, "network-unix").state, HookState::kDegraded);
  EXPECT_EQ(Row(rows, "files").mechanism, Mechanism::kKillOnSyscall);
  EXPECT_EQ(Row(rows, "files").state, HookState::kDegraded);
  EXPECT_EQ(Row(rows, "exec").mechanism, Mechanism::kKillOnSyscall);
  EXPECT_EQ(Row(rows, "exec").state, HookState::kDegraded);
  EXPECT_EQ(Row(rows, "self-protection").state, HookState::kAbsent);
  EXPECT_NE(Row(rows, "self-protection").detail.find("Operation not permitted"), std::string::npos);
  EXPECT_EQ(Row(rows, "kill-switch").state, HookState::kEnforcing);
}

TEST(ProbeCapabilities, FallbackHookNeverReportsEnforcing) {
  bpflsm::LsmProbe lsm;
  auto rows = ProbeCapabilities(GateReport(HookState::kEnforcing), lsm, false);
  EXPECT_EQ(Row(rows, "files").state, HookState::kDegraded);
  EXPECT_EQ(Row(rows, "exec").state, HookState::kDegraded);
}

TEST(ProbeCapabilities, PinnedLsmEnforcesFilesExecAndSelfProtection) {
  bpflsm::LsmProbe lsm;
  lsm.attach_ok = true;
  lsm.bpf_lsm_active = true;
  for (const char* h : {"file_open", "bprm_check_security", "task_kill"}) lsm.hooks.push_back({h, h, true, ""});
  auto rows = ProbeCapabilities(GateReport(HookState::kAbsent), lsm, true);
  for (const char* n : {"files", "exec", "self-protection"}) {
    EXPECT_EQ(Row(rows, n).mechanism, Mechanism::kLsm) << n;
    EXPECT_EQ(Row(rows, n).state, HookState::kEnforcing) << n;
  }
  // Loadable but not pinned by an agent: nothing enforces through LSM.
  rows = ProbeCapabilities(GateReport(HookState::kAbsent), lsm, false);
  EXPECT_EQ(Row(rows, "self-protection").state, HookState::kAbsent);
  EXPECT_NE(Row(rows, "self-protection").detail.find("no agent has it pinned"), std::string::npos);
}

}  // namespace
}  // namespace taogate::enforce
