// DNS name targets at an agent that does not resolve names yet (issue 16,
// docs/names.md): it must stay fail closed. A protected set naming a host is
// refused whole (the previous set stays, a counter says why); a TAO naming a
// host is refused before it is spent.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/redeem_fakes.h"
#include "tao/tao_testing.h"
#include "taogate/agent/redeem.h"
#include "taogate/agent/target_sync.h"
#include "taogate/target/target.h"
#include "testing/manual_clock.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

using ::testing::HasSubstr;

class FakeTable : public TargetTable {
 public:
  absl::Status AddTarget(const target::Target& t) override {
    if (t.host != target::Host::kPrefix && t.proto != target::Proto::kUnix)
      return absl::InvalidArgumentError("not an IP target");  // as bpf::Gate
    maps.insert(target::Format(t));
    return absl::OkStatus();
  }
  absl::Status RemoveTarget(const target::Target& t) override {
    maps.erase(target::Format(t));
    return absl::OkStatus();
  }
  bool ProtectsListedOnly() const override { return true; }
  std::set<std::string> maps;
};

class NamedTargetSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger::LedgerOptions lo;
    lo.dir = (dir_.path() / "ledger").string();
    lo.fsync = false;
    auto l = ledger::Ledger::Open(lo);
    ASSERT_TRUE(l.ok()) << l.status();
    ledger_ = std::move(*l);
    TargetSyncOptions o;
    o.cache_path = (dir_.path() / "targets.pb").string();
    o.node_id = "n1";
    sync_ = std::make_unique<TargetSync>(table_, *ledger_, nullptr, o);
  }
  static v1::ProtectedTargets Set(char sha) {
    v1::ProtectedTargets m;
    m.set_policy_sha256(std::string(64, sha));
    auto* t = m.add_targets();
    t->set_proto(v1::TARGET_PROTO_TCP);
    t->set_cidr("10.0.0.1/32");
    t->set_port_from(5432);
    t->set_port_to(5432);
    return m;
  }

  taogate::testing::TempDir dir_;
  FakeTable table_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<TargetSync> sync_;
};

TEST_F(NamedTargetSyncTest, NamedEntryRefusesTheWholeSetAndThePreviousStays) {
  ASSERT_TRUE(sync_->Apply(Set('a')).ok());
  v1::ProtectedTargets named = Set('b');
  auto* t = named.add_targets();
  t->set_proto(v1::TARGET_PROTO_TCP);
  t->set_host_name("db.prod.internal");
  t->set_port_from(5432);
  t->set_port_to(5432);
  t->set_name("db");
  absl::Status st = sync_->Apply(named);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("names not resolved by this agent yet (issue 16)"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("db.prod.internal"));
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432"}));  // not dropped, not half-applied
  TargetSyncState s = sync_->state();
  EXPECT_EQ(s.policy_sha256, std::string(64, 'a'));
  EXPECT_EQ(s.names_unresolved_total, 1u);
  EXPECT_EQ(s.rejected_total, 1u);
  EXPECT_EQ(LoadTargetsCache((dir_.path() / "targets.pb").string())->policy_sha256(), std::string(64, 'a'));
}

TEST_F(NamedTargetSyncTest, NamedFirstSetKeepsTheCatchAll) {
  ASSERT_TRUE(sync_->Start().ok());
  v1::ProtectedTargets named = Set('b');
  named.mutable_targets(0)->clear_cidr();
  named.mutable_targets(0)->set_host_name("db.prod.internal");
  EXPECT_FALSE(sync_->Apply(named).ok());
  EXPECT_TRUE(sync_->state().fail_closed);
  EXPECT_EQ(table_.maps, (std::set<std::string>{"any:0.0.0.0/0:*", "any:[::]/0:*"}));
}

class NamedRedeemTest : public ::testing::Test {
 protected:
  NamedRedeemTest()
      : verifier_(issuer_.public_key()),
        redeemer_(RedeemConfig{.node_id = "node-a", .governed_root = "/taogate", .cgroup2_mount = "/nonexistent"},
                  verifier_, evidence_, grants_, clock_) {}
  PeerIdentity Caller() {
    return PeerIdentity{.pid = 100, .uid = 1000, .gid = 1000, .cgroup_path = "/taogate/w1", .cgroup_id = 4242};
  }

  taogate::testing::TestIssuer issuer_;
  fakes::KeyVerifier verifier_;
  fakes::MemoryEvidence evidence_;
  fakes::MemoryGrants grants_;
  taogate::testing::ManualClock clock_{taogate::testing::NowMs()};
  Redeemer redeemer_;
};

TEST_F(NamedRedeemTest, NamedTaoIsRefusedBeforeItIsSpent) {
  v1::TaoBody body = issuer_.ValidBody();
  body.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  body.mutable_target()->set_address("db.prod.internal");
  body.mutable_target()->set_port(5432);
  const std::string wire = issuer_.SignToWire(body);
  RedeemOutcome out = redeemer_.Redeem(wire, Caller());
  EXPECT_EQ(out.reason_code, reason::kNameUnresolved);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kFailedPrecondition) << out.status;
  EXPECT_THAT(std::string(out.status.message()), HasSubstr("tcp:db.prod.internal:5432 is a DNS name"));
  EXPECT_THAT(std::string(out.status.message()), HasSubstr("not resolved by this agent yet"));
  EXPECT_EQ(grants_.installed_, 0);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 0u);
  EXPECT_EQ(evidence_.LastField("reason_code"), reason::kNameUnresolved);
  EXPECT_EQ(evidence_.LastField("target"), "tcp:db.prod.internal:5432");
  EXPECT_EQ(redeemer_.ConsumedCount(), 0u);  // not spent: the same TAO is refused the same way
  EXPECT_EQ(redeemer_.Redeem(wire, Caller()).reason_code, reason::kNameUnresolved);
}

}  // namespace
}  // namespace taogate::agent
