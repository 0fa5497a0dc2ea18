// Audit mode (docs/audit-mode.md) on the real gate: an audited target or an
// audited workload lets through what enforce mode would deny and reports it
// (the DENIED event's fields, audit set); grants are never consumed; the
// kill switch is never audited; switching to enforce is one map update.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr uint64_t kTenSeconds = 10'000'000'000ull;

class AuditTest : public OpenGateTest {
 protected:
  void SetUp() override {
    OpenGateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    audited_ = ListenTcp();
    enforced_ = ListenTcp();
    ASSERT_TRUE(gate_->AddTarget(Spec(AuditedSpec()), TargetKind::kAudit).ok());
    Protect(StrCat("tcp:127.0.0.1:", enforced_.port));
  }
  std::string AuditedSpec() const { return StrCat("tcp:127.0.0.1:", audited_.port); }
  int ConnectFrom(const std::string& cg, const Listener& l) {
    return RunIn(cg, [&] { return TryConnect("127.0.0.1", l.port); });
  }
  // The events of this test so far about `port`.
  std::vector<DecisionEvent> EventsFor(uint16_t port) {
    DrainEvents();
    std::vector<DecisionEvent> out;
    for (const auto& e : events_)
      if (e.port == port) out.push_back(e);
    return out;
  }
  Listener audited_;
  Listener enforced_;
};

TEST_F(AuditTest, AuditedConnectPassesAndReportsWhatEnforceWouldDeny) {
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
  EXPECT_EQ(ConnectFrom(a_.path(), enforced_), EPERM);  // same bundle, not audited
  auto would = EventsFor(audited_.port);
  auto denied = EventsFor(enforced_.port);
  ASSERT_EQ(would.size(), 1u);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_TRUE(would[0].audit);
  EXPECT_FALSE(denied[0].audit);
  // The DENIED event's fields, the port aside.
  EXPECT_EQ(would[0].verdict, denied[0].verdict);
  EXPECT_EQ(would[0].cgroup_id, denied[0].cgroup_id);
  EXPECT_EQ(would[0].cgroup_id, IdOf(a_.path()));
  EXPECT_EQ(would[0].hook, denied[0].hook);
  EXPECT_EQ(would[0].address, denied[0].address);
  EXPECT_EQ(would[0].proto, denied[0].proto);
  EXPECT_EQ(would[0].family, denied[0].family);
}

TEST_F(AuditTest, AuditedConnectNeverConsumesAGrant) {
  const uint64_t a = IdOf(a_.path());
  ASSERT_TRUE(gate_->InstallGrant(a, Dest(AuditedSpec()), Tao(7), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
  EXPECT_TRUE(EventsFor(audited_.port).empty()) << "a valid grant: enforce would allow, nothing to report";
  EXPECT_EQ(*gate_->GrantCount(), 1u);
  // Still usable: once enforced, it admits exactly one connect.
  ASSERT_TRUE(gate_->AddTarget(Spec(AuditedSpec()), TargetKind::kProtect).ok());
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), EPERM);
}

TEST_F(AuditTest, ExpiredGrantIsReportedAsWouldDenyExpired) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Dest(AuditedSpec()), Tao(8), MonoNowNs() + 50'000'000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
  auto would = EventsFor(audited_.port);
  ASSERT_EQ(would.size(), 1u);
  EXPECT_EQ(would[0].verdict, Verdict::kDenyExpired);
  EXPECT_TRUE(would[0].audit);
}

TEST_F(AuditTest, QuarantinedWorkloadIsRefusedEvenAudited) {
  const uint64_t a = IdOf(a_.path());
  ASSERT_TRUE(gate_->SetAuditWorkload(a, true).ok());
  ASSERT_TRUE(gate_->Quarantine(a, QuarantineMode::kNetwork).ok());
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), EPERM);
  EXPECT_EQ(ConnectFrom(a_.path(), enforced_), EPERM);
  for (const auto& e : EventsFor(audited_.port)) {
    EXPECT_EQ(e.verdict, Verdict::kDenyQuarantine);
    EXPECT_FALSE(e.audit);
  }
  ASSERT_TRUE(gate_->Release(a).ok());
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
  ASSERT_TRUE(gate_->QuarantineAll(QuarantineMode::kNetwork).ok());
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), EPERM);
  ASSERT_TRUE(gate_->ReleaseAll().ok());
}

TEST_F(AuditTest, SwitchingToEnforceRefusesTheNextConnect) {
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
  ASSERT_TRUE(gate_->AddTarget(Spec(AuditedSpec()), TargetKind::kProtect).ok());
  EXPECT_EQ(gate_->LookupTarget(Dest(AuditedSpec())), TargetKind::kProtect);
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), EPERM);
  ASSERT_TRUE(gate_->AddTarget(Spec(AuditedSpec()), TargetKind::kAudit).ok());
  EXPECT_EQ(ConnectFrom(a_.path(), audited_), 0);
}

TEST_F(AuditTest, AuditedWorkloadPassesOthersEnforced) {
  const uint64_t a = IdOf(a_.path());
  ASSERT_TRUE(gate_->SetAuditWorkload(a, true).ok());
  EXPECT_EQ(*gate_->AuditedWorkloads(), std::vector<uint64_t>{a});
  ASSERT_TRUE(gate_->InstallGrant(a, Dest(StrCat("tcp:127.0.0.1:", enforced_.port)), Tao(9),
                                  MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(ConnectFrom(a_.path(), enforced_), 0);
  EXPECT_EQ(*gate_->GrantCount(), 1u) << "an audited workload's grant was consumed";
  EXPECT_EQ(ConnectFrom(b_.path(), enforced_), EPERM);
  ASSERT_TRUE(gate_->SetAuditWorkload(a, false).ok());
  EXPECT_TRUE(gate_->AuditedWorkloads()->empty());
  EXPECT_EQ(ConnectFrom(a_.path(), enforced_), 0);  // the grant, spent now
  EXPECT_EQ(ConnectFrom(a_.path(), enforced_), EPERM);
}

}  // namespace
}  // namespace taogate::bpf::testing
