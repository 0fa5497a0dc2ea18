// TargetSync's decisions without root: a fake TargetTable stands in for the
// kernel gate (the same paths run against the real gate in
// target_sync_kernel_test.cc). Each test is one update as an attack or a
// failure: what stays in the maps, what the cache and the ledger say.
#include <set>

#include <gtest/gtest.h>

#include "taogate/agent/target_sync.h"
#include "taogate/common/strings.h"
#include "taogate/target/target.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

// The gate's maps as a set of canonical targets; Fail() makes one add fail.
class FakeTable : public TargetTable {
 public:
  absl::Status AddTarget(const target::Target& t) override {
    std::string k = target::Format(t);
    if (k == fail_) return absl::UnavailableError("map full");
    maps.insert(k);
    return absl::OkStatus();
  }
  absl::Status RemoveTarget(const target::Target& t) override {
    maps.erase(target::Format(t));
    return absl::OkStatus();
  }
  bool ProtectsListedOnly() const override { return listed_only; }
  void Fail(std::string spec) { fail_ = std::move(spec); }

  std::set<std::string> maps;
  bool listed_only = true;

 private:
  std::string fail_;
};

const char kAll4[] = "any:0.0.0.0/0:*";
const char kAll6[] = "any:[::]/0:*";

class TargetSyncLogicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger::LedgerOptions lo;
    lo.dir = (dir_.path() / "ledger").string();
    lo.fsync = false;
    auto l = ledger::Ledger::Open(lo);
    ASSERT_TRUE(l.ok()) << l.status();
    ledger_ = std::move(*l);
  }
  void MakeSync(std::vector<std::string> statics = {}, bool governor = true) {
    TargetSyncOptions o;
    if (governor) o.cache_path = (dir_.path() / "targets.pb").string();
    o.node_id = "n1";
    o.static_targets = std::move(statics);
    sync_ = std::make_unique<TargetSync>(table_, *ledger_, nullptr, o);
  }
  static v1::ProtectedTargets Set(char sha, std::vector<std::string> cidrs_ports) {
    v1::ProtectedTargets m;
    m.set_policy_sha256(std::string(64, sha));
    for (const auto& cp : cidrs_ports) {
      size_t at = cp.rfind(':');
      auto* t = m.add_targets();
      t->set_proto(v1::TARGET_PROTO_TCP);
      t->set_cidr(cp.substr(0, at));
      t->set_port_from(std::stoi(cp.substr(at + 1)));
      t->set_port_to(std::stoi(cp.substr(at + 1)));
    }
    return m;
  }
  bool Has(const std::string& k) { return table_.maps.count(k) > 0; }
  size_t Records(const std::string& event) {
    size_t n = 0;
    ledger_->Scan(0, [&](const ledger::Record& r) {
      n += r.kind == ledger::RecordKind::kPolicyActivated && r.Field("event") == std::optional<std::string_view>(event);
      return true;
    }).IgnoreError();
    return n;
  }

  taogate::testing::TempDir dir_;
  FakeTable table_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<TargetSync> sync_;
};

TEST_F(TargetSyncLogicTest, NoCacheFailsClosedWithTheCatchAll) {
  MakeSync();
  ASSERT_TRUE(sync_->Start().ok());
  EXPECT_TRUE(Has(kAll4) && Has(kAll6));
  EXPECT_TRUE(sync_->state().fail_closed);
  EXPECT_EQ(Records("fail_closed"), 1u);
}

TEST_F(TargetSyncLogicTest, DenyAllModeWritesNoCatchAll) {
  table_.listed_only = false;
  MakeSync();
  ASSERT_TRUE(sync_->Start().ok());
  EXPECT_TRUE(table_.maps.empty());
  EXPECT_TRUE(sync_->state().fail_closed);
}

TEST_F(TargetSyncLogicTest, FirstSetLiftsTheCatchAllAndIsCached) {
  MakeSync();
  ASSERT_TRUE(sync_->Start().ok());
  ASSERT_TRUE(sync_->Apply(Set('a', {"10.1.2.3/8:5432"})).ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.0/8:5432"}));
  EXPECT_FALSE(sync_->state().fail_closed);
  EXPECT_TRUE(LoadTargetsCache((dir_.path() / "targets.pb").string()).ok());
  EXPECT_EQ(Records("applied"), 1u);
}

TEST_F(TargetSyncLogicTest, UpdateAppliesTheDifference) {
  MakeSync();
  ASSERT_TRUE(sync_->Apply(Set('a', {"10.0.0.1:1", "10.0.0.2:2"})).ok());
  ASSERT_TRUE(sync_->Apply(Set('b', {"10.0.0.2:2", "10.0.0.3:3"})).ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.2:2", "tcp:10.0.0.3:3"}));
  EXPECT_EQ(sync_->state().policy_sha256, std::string(64, 'b'));
}

TEST_F(TargetSyncLogicTest, FailedAddRollsBackAndRestoresTheCache) {
  MakeSync();
  ASSERT_TRUE(sync_->Apply(Set('a', {"10.0.0.1:1"})).ok());
  table_.Fail("tcp:10.0.0.3:3");
  absl::Status st = sync_->Apply(Set('b', {"10.0.0.2:2", "10.0.0.3:3"}));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:1"}));
  EXPECT_EQ(LoadTargetsCache((dir_.path() / "targets.pb").string())->policy_sha256(), std::string(64, 'a'));
  EXPECT_EQ(sync_->state().rejected_total, 1u);
  EXPECT_EQ(Records("rejected"), 1u);
}

TEST_F(TargetSyncLogicTest, FailedFirstSetLeavesNoCacheSoARestartFailsClosed) {
  MakeSync();
  ASSERT_TRUE(sync_->Start().ok());
  table_.Fail("tcp:10.0.0.1:1");
  EXPECT_FALSE(sync_->Apply(Set('a', {"10.0.0.1:1"})).ok());
  EXPECT_TRUE(Has(kAll4) && Has(kAll6));
  EXPECT_EQ(LoadTargetsCache((dir_.path() / "targets.pb").string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TargetSyncLogicTest, MalformedEntryRejectsTheWholeSet) {
  MakeSync();
  ASSERT_TRUE(sync_->Apply(Set('a', {"10.0.0.1:1"})).ok());
  EXPECT_EQ(sync_->Apply(Set('b', {"10.0.0.2:2", "10.0.0.300:3"})).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:1"}));
}

TEST_F(TargetSyncLogicTest, ResentSetWritesNoRecord) {
  MakeSync();
  ASSERT_TRUE(sync_->Apply(Set('a', {"10.0.0.1:1"})).ok());
  table_.maps.clear();  // e.g. lost with a detach: the resend puts it back
  ASSERT_TRUE(sync_->Apply(Set('a', {"10.0.0.1:1"})).ok());
  EXPECT_TRUE(Has("tcp:10.0.0.1:1"));
  EXPECT_EQ(Records("applied"), 1u);
}

TEST_F(TargetSyncLogicTest, StaticTargetSurvivesGovernorRemoval) {
  MakeSync({"tcp:10.0.0.1:1"});
  ASSERT_TRUE(sync_->Apply(Set('a', {"10.0.0.1:1"})).ok());
  ASSERT_TRUE(sync_->Apply(Set('b', {})).ok());
  EXPECT_TRUE(Has("tcp:10.0.0.1:1"));
}

TEST_F(TargetSyncLogicTest, NodeTargetFollowsTheAddresses) {
  MakeSync();
  ASSERT_TRUE(sync_->SetNodeAddresses({"10.0.0.5"}).ok());
  ASSERT_TRUE(sync_->Apply(Set('a', {"node:5432"})).ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:127.0.0.0/8:5432", "tcp:[::1]:5432", "tcp:10.0.0.5:5432"}));
  ASSERT_TRUE(sync_->SetNodeAddresses({"10.0.0.6"}).ok());
  EXPECT_FALSE(Has("tcp:10.0.0.5:5432"));
  EXPECT_TRUE(Has("tcp:10.0.0.6:5432"));
  EXPECT_EQ(Records("node_addresses"), 1u);
}

TEST_F(TargetSyncLogicTest, AddressChangeTheMapsCannotHoldKeepsThePreviousSet) {
  MakeSync();
  ASSERT_TRUE(sync_->SetNodeAddresses({"10.0.0.5"}).ok());
  ASSERT_TRUE(sync_->Apply(Set('a', {"node:5432"})).ok());
  table_.Fail("tcp:10.0.0.6:5432");
  EXPECT_FALSE(sync_->SetNodeAddresses({"10.0.0.6"}).ok());
  EXPECT_TRUE(Has("tcp:10.0.0.5:5432"));
  EXPECT_EQ(sync_->state().node_address_failures_total, 1u);
}

TEST_F(TargetSyncLogicTest, WithoutGovernorOnlyStaticTargets) {
  MakeSync({"tcp:node:22", "unix:/run/x.sock"}, /*governor=*/false);
  ASSERT_TRUE(sync_->Start().ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:127.0.0.0/8:22", "tcp:[::1]:22", "unix:/run/x.sock"}));
  EXPECT_EQ(sync_->NetworkTargetSpecs(), std::vector<std::string>{"tcp:node:22"});
}

}  // namespace
}  // namespace taogate::agent
