// Audit mode through the agent's own path (docs/audit-mode.md): TargetSync
// applies a governor set with audited targets into the real gate, a real
// workload process connects, the EventConsumer writes WOULD_DENY records with
// DENIED's fields, and switching the target to enforce is one more set.
#include <unistd.h>

#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "taogate/agent/event_consumer.h"
#include "taogate/agent/gate_grants.h"
#include "taogate/agent/kernel_adapters.h"
#include "taogate/agent/ledger_evidence.h"
#include "taogate/agent/metrics.h"
#include "taogate/agent/audit_workloads.h"
#include "taogate/agent/pods_mode.h"
#include "taogate/agent/target_sync.h"
#include "taogate/common/strings.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

class AuditKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    bpf::GateOptions go;
    go.pin_root = pin_root_;
    go.governed_cgroup = governed_abs_;
    auto gate = bpf::Gate::OpenOrAdopt(go);
    ASSERT_TRUE(gate.ok()) << gate.status();
    gate_ = std::move(*gate);
    grants_ = std::make_unique<GateGrants>(*gate_);
    ledger::LedgerOptions lo;
    lo.dir = ledger_dir_;
    lo.fsync = false;
    auto l = ledger::Ledger::Open(lo);
    ASSERT_TRUE(l.ok()) << l.status();
    ledger_ = std::move(*l);
    w1_ = MakeWorkload("w1");
    TargetSyncOptions o;
    o.cache_path = dir_->path().string() + "/targets.pb";
    o.node_id = node_id_;
    sync_ = std::make_unique<TargetSync>(*grants_, *ledger_, nullptr, o);
    audited_ = FreePort();
    enforced_ = FreePort();
  }
  void TearDown() override {
    sync_.reset();
    ledger_.reset();
    grants_.reset();
    gate_.reset();
    AgentTest::TearDown();
  }
  // tcp:127.0.0.1:PORT entries; `audit` ports audited.
  static v1::ProtectedTargets Set(char sha, std::vector<std::pair<int, bool>> ports) {
    v1::ProtectedTargets m;
    m.set_policy_sha256(std::string(64, sha));
    for (auto [port, audit] : ports) {
      auto* t = m.add_targets();
      t->set_proto(v1::TARGET_PROTO_TCP);
      t->set_cidr("127.0.0.1/32");
      t->set_port_from(port);
      t->set_port_to(port);
      t->set_audit(audit);
    }
    return m;
  }
  std::optional<bpf::TargetKind> KindOf(int port) {
    return gate_->LookupTarget(*target::Parse(StrCat("tcp:127.0.0.1:", port), target::Form::kDestination));
  }
  bool Connects(int port) {
    auto r = RunIn("w1", {"connect", "127.0.0.1", std::to_string(port)});
    EXPECT_TRUE(r.Has("CONNECT OK") || r.Has("CONNECT ERR ECONNREFUSED") || r.Has("CONNECT ERR EPERM")) << r.out;
    return !r.Has("CONNECT ERR EPERM");
  }
  std::unique_ptr<bpf::Gate> gate_;
  std::unique_ptr<GateGrants> grants_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<TargetSync> sync_;
  uint64_t w1_ = 0;
  int audited_ = 0, enforced_ = 0;
};

TEST_F(AuditKernelTest, AuditedTargetPassesAndIsRecordedAsWouldDeny) {
  ASSERT_TRUE(sync_->Apply(Set('a', {{audited_, true}, {enforced_, false}})).ok());
  EXPECT_EQ(KindOf(audited_), bpf::TargetKind::kAudit);
  EXPECT_EQ(KindOf(enforced_), bpf::TargetKind::kProtect);
  EXPECT_EQ(sync_->AuditedTargetSpecs(), std::vector<std::string>{StrCat("tcp:127.0.0.1:", audited_)});
  GateKernel kernel(*gate_);
  LedgerEvidence evidence(*ledger_);
  Metrics metrics;
  {
    EventConsumer consumer(kernel, evidence, metrics, EventConsumerOptions{});
    consumer.Start();
    EXPECT_TRUE(Connects(audited_));
    EXPECT_TRUE(Connects(audited_));
    EXPECT_FALSE(Connects(enforced_));
  }  // stopped: drained and flushed
  auto would = Find(RecordKind::kWouldDeny);
  auto denied = Find(RecordKind::kDenied);
  ASSERT_EQ(would.size(), 1u);  // two connects, aggregated like DENIED
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(would[0].Field("count"), "2");
  EXPECT_EQ(would[0].Field("target"), StrCat("tcp:127.0.0.1:", audited_));
  EXPECT_EQ(would[0].Field("event"), "kernel_would_deny");
  for (const char* f : {"cgroup_id", "verdict"}) EXPECT_EQ(would[0].Field(f), denied[0].Field(f)) << f;
  EXPECT_EQ(would[0].Field("cgroup_id"), std::to_string(w1_));
}

TEST_F(AuditKernelTest, SwitchingToEnforceIsOneActivation) {
  ASSERT_TRUE(sync_->Apply(Set('a', {{audited_, true}, {enforced_, false}})).ok());
  EXPECT_TRUE(Connects(audited_));
  ASSERT_TRUE(sync_->Apply(Set('b', {{audited_, false}, {enforced_, false}})).ok());
  EXPECT_EQ(KindOf(audited_), bpf::TargetKind::kProtect);
  EXPECT_FALSE(Connects(audited_));
  EXPECT_TRUE(sync_->AuditedTargetSpecs().empty());
  // And back: the entry is switched in place, never absent.
  ASSERT_TRUE(sync_->Apply(Set('c', {{audited_, true}, {enforced_, false}})).ok());
  EXPECT_EQ(KindOf(audited_), bpf::TargetKind::kAudit);
  EXPECT_TRUE(Connects(audited_));
}

TEST_F(AuditKernelTest, AKeyAlsoWantedEnforcedIsEnforced) {
  v1::ProtectedTargets m = Set('a', {{audited_, true}});
  auto* range = m.add_targets();  // the same kernel entry by a wider, enforced range
  range->set_proto(v1::TARGET_PROTO_TCP);
  range->set_cidr("127.0.0.1/32");
  range->set_port_from(audited_);
  range->set_port_to(audited_ + 1);
  ASSERT_TRUE(sync_->Apply(m).ok());
  EXPECT_EQ(KindOf(audited_), bpf::TargetKind::kProtect);
  EXPECT_FALSE(Connects(audited_));
  // A later re-expansion (node addresses) keeps enforce on top.
  ASSERT_TRUE(sync_->SetNodeAddresses({"192.0.2.1"}).ok());
  EXPECT_EQ(KindOf(audited_), bpf::TargetKind::kProtect);
}

// Audit mode per workload (bundle workloads with `mode: audit`): the set's
// audited workloads reach tg_audit through RootAuditSync; the audited
// workload's connect to an enforced target passes and is a WOULD_DENY, another
// workload's is refused, quarantine still refuses, and the next set without
// the workload enforces again. Forgetting the workload ends its audit.
TEST_F(AuditKernelTest, AuditedWorkloadPassesOthersRefusedQuarantineStillDenies) {
  const uint64_t w2 = MakeWorkload("w2");
  GateWorkloadMap map(*gate_);
  LedgerEvidence evidence(*ledger_);
  RootAuditSync audit(map, evidence, cgroup2_, governed_rel_, node_id_, 60'000);
  TargetSyncOptions o;
  o.cache_path = dir_->path().string() + "/targets-w.pb";
  o.node_id = node_id_;
  o.audit = &audit;
  sync_.reset();
  sync_ = std::make_unique<TargetSync>(*grants_, *ledger_, nullptr, o);
  v1::ProtectedTargets m = Set('a', {{enforced_, false}});
  v1::HoldWorkload* w = m.add_audit_workloads();
  w->set_id("w1-rollout");
  w->add_cgroup_paths(governed_rel_ + "/w1");
  ASSERT_TRUE(sync_->Apply(m).ok());
  EXPECT_EQ(*gate_->AuditedWorkloads(), std::vector<uint64_t>{w1_});
  auto w2_connects = [&] {
    auto r = RunIn("w2", {"connect", "127.0.0.1", std::to_string(enforced_)});
    return !r.Has("CONNECT ERR EPERM");
  };
  GateKernel kernel(*gate_);
  Metrics metrics;
  {
    EventConsumer consumer(kernel, evidence, metrics, EventConsumerOptions{});
    consumer.Start();
    EXPECT_TRUE(Connects(enforced_));
    EXPECT_FALSE(w2_connects());
  }
  auto would = Find(RecordKind::kWouldDeny);
  ASSERT_EQ(would.size(), 1u);
  EXPECT_EQ(would[0].Field("cgroup_id"), std::to_string(w1_));
  ASSERT_EQ(Find(RecordKind::kDenied).size(), 1u);
  EXPECT_EQ(Find(RecordKind::kDenied)[0].Field("cgroup_id"), std::to_string(w2));
  // The kill switch is never audited.
  ASSERT_TRUE(gate_->Quarantine(w1_, bpf::QuarantineMode::kNetwork).ok());
  EXPECT_FALSE(Connects(enforced_));
  ASSERT_TRUE(gate_->Release(w1_).ok());
  EXPECT_TRUE(Connects(enforced_));
  // Enforce again: one set without the audited workload.
  ASSERT_TRUE(sync_->Apply(Set('b', {{enforced_, false}})).ok());
  EXPECT_TRUE(gate_->AuditedWorkloads()->empty());
  EXPECT_FALSE(Connects(enforced_));
  // Forgetting a workload (its pod deleted) ends its audit too.
  ASSERT_TRUE(gate_->SetAuditWorkload(w2, true).ok());
  ASSERT_TRUE(gate_->ForgetWorkload(w2).ok());
  EXPECT_TRUE(gate_->AuditedWorkloads()->empty());
  EXPECT_FALSE(w2_connects());
  sync_.reset();
}

TEST_F(AuditKernelTest, AuditedFileTargetRefusesTheSet) {
  v1::ProtectedTargets m = Set('a', {{audited_, true}});
  auto* f = m.add_targets();
  f->set_proto(v1::TARGET_PROTO_FILE);
  f->set_path("/etc/hostname");
  f->set_audit(true);
  EXPECT_FALSE(sync_->Apply(m).ok());
  EXPECT_EQ(KindOf(audited_), std::nullopt);
}

}  // namespace
}  // namespace taogate::agent::testing
