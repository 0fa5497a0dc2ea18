// TargetSync's audit-mode decisions without root (docs/audit-mode.md): a
// fake TargetTable logs every call, so a mode switch is seen to be an
// in-place write, never a removal, and enforce wins a shared key.
#include <gtest/gtest.h>

#include "taogate/agent/target_sync.h"
#include "taogate/common/strings.h"
#include "taogate/target/target.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

// The maps as canonical target -> mode ("audit" / "enforce"), and the calls.
class LoggingTable : public TargetTable {
 public:
  absl::Status AddTarget(const target::Target& t) override { return Put(t, "enforce"); }
  absl::Status AddAuditTarget(const target::Target& t) override { return Put(t, "audit"); }
  absl::Status RemoveTarget(const target::Target& t) override {
    calls.push_back("remove " + target::Format(t));
    maps.erase(target::Format(t));
    return absl::OkStatus();
  }
  bool ProtectsListedOnly() const override { return true; }

  std::map<std::string, std::string> maps;
  std::vector<std::string> calls;

 private:
  absl::Status Put(const target::Target& t, const char* mode) {
    calls.push_back(StrCat(mode, " ", target::Format(t)));
    maps[target::Format(t)] = mode;
    return absl::OkStatus();
  }
};

class AuditSyncTest : public ::testing::Test {
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
    o.static_targets = {"tcp:10.0.0.9:22"};
    sync_ = std::make_unique<TargetSync>(table_, *ledger_, nullptr, o);
  }
  // tcp 10.0.0.1/32 entries: {port, audit}.
  static v1::ProtectedTargets Set(char sha, std::vector<std::pair<int, bool>> ports, const char* cidr = "10.0.0.1/32") {
    v1::ProtectedTargets m;
    m.set_policy_sha256(std::string(64, sha));
    for (auto [port, audit] : ports) {
      auto* t = m.add_targets();
      t->set_proto(v1::TARGET_PROTO_TCP);
      t->set_cidr(cidr);
      t->set_port_from(port);
      t->set_port_to(port);
      t->set_audit(audit);
    }
    return m;
  }
  taogate::testing::TempDir dir_;
  std::unique_ptr<ledger::Ledger> ledger_;
  LoggingTable table_;
  std::unique_ptr<TargetSync> sync_;
};

TEST_F(AuditSyncTest, ModeSwitchIsAnInPlaceWriteNeverARemoval) {
  ASSERT_TRUE(sync_->Apply(Set('a', {{443, true}, {5432, false}})).ok());
  EXPECT_EQ(table_.maps["tcp:10.0.0.1:443"], "audit");
  EXPECT_EQ(table_.maps["tcp:10.0.0.1:5432"], "enforce");
  table_.calls.clear();
  ASSERT_TRUE(sync_->Apply(Set('b', {{443, false}, {5432, false}})).ok());
  EXPECT_EQ(table_.maps["tcp:10.0.0.1:443"], "enforce");
  for (const auto& c : table_.calls) EXPECT_FALSE(c.starts_with("remove")) << c;
  EXPECT_TRUE(sync_->AuditedTargetSpecs().empty());
}

TEST_F(AuditSyncTest, StaticTargetKeyStaysEnforced) {
  v1::ProtectedTargets m = Set('a', {{22, true}}, "10.0.0.9/32");
  ASSERT_TRUE(sync_->Start().ok());
  ASSERT_TRUE(sync_->Apply(m).ok());
  EXPECT_EQ(table_.maps["tcp:10.0.0.9:22"], "enforce");
  EXPECT_EQ(sync_->AuditedTargetSpecs(), std::vector<std::string>{"tcp:10.0.0.9:22"});  // as declared
}

TEST_F(AuditSyncTest, AuditedFileTargetRefusesTheWholeSet) {
  v1::ProtectedTargets m = Set('a', {{443, true}});
  auto* f = m.add_targets();
  f->set_proto(v1::TARGET_PROTO_EXEC);
  f->set_path("/usr/bin/psql");
  f->set_audit(true);
  EXPECT_FALSE(sync_->Apply(m).ok());
  EXPECT_FALSE(table_.maps.count("tcp:10.0.0.1:443"));
}

}  // namespace
}  // namespace taogate::agent
