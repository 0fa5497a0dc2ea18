// DNS name targets at the agent (docs/names.md), without root: a fake
// TargetTable stands in for the kernel gate and a fake NameWatcher for the
// resolver (the same paths run against the real gate, a real governor and a
// real dnsmasq in names_kernel_test.cc). Each test is one change as an
// attack or a failure: what the maps hold, what the ledger says, whether a
// named TAO is spent.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/redeem_fakes.h"
#include "tao/tao_testing.h"
#include "taogate/agent/redeem.h"
#include "taogate/agent/target_sync.h"
#include "taogate/common/strings.h"
#include "taogate/target/target.h"
#include "testing/manual_clock.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeTable : public TargetTable {
 public:
  absl::Status AddTarget(const target::Target& t) override {
    if (t.host != target::Host::kPrefix && t.proto != target::Proto::kUnix)
      return absl::InvalidArgumentError("not an IP target");  // as bpf::Gate
    std::string k = target::Format(t);
    if (k == fail) return absl::UnavailableError("map full");
    maps.insert(k);
    return absl::OkStatus();
  }
  absl::Status RemoveTarget(const target::Target& t) override {
    maps.erase(target::Format(t));
    return absl::OkStatus();
  }
  bool ProtectsListedOnly() const override { return true; }
  std::set<std::string> maps;
  std::string fail;
};

class FakeWatcher : public NameWatcher {
 public:
  absl::Status Watch(const std::vector<std::string>& names) override {
    if (refuse) return absl::InvalidArgumentError("too many names");
    watched = names;
    return absl::OkStatus();
  }
  std::vector<std::string> watched;
  bool refuse = false;
};

target::Ip Ip(const char* text) { return *target::ParseIp(text); }

void AddName(v1::ProtectedTargets* m, const char* name, uint32_t port) {
  auto* t = m->add_targets();
  t->set_proto(v1::TARGET_PROTO_TCP);
  t->set_host_name(name);
  t->set_port_from(port);
  t->set_port_to(port);
  t->set_name(name);
}

void AddCidr(v1::ProtectedTargets* m, const char* cidr, uint32_t port) {
  auto* t = m->add_targets();
  t->set_proto(v1::TARGET_PROTO_TCP);
  t->set_cidr(cidr);
  t->set_port_from(port);
  t->set_port_to(port);
}

v1::ProtectedTargets Set(char sha) {
  v1::ProtectedTargets m;
  m.set_policy_sha256(std::string(64, sha));
  AddCidr(&m, "10.0.0.1/32", 5432);
  return m;
}

class NamedTargetSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger::LedgerOptions lo;
    lo.dir = (dir_.path() / "ledger").string();
    lo.fsync = false;
    auto l = ledger::Ledger::Open(lo);
    ASSERT_TRUE(l.ok()) << l.status();
    ledger_ = std::move(*l);
    Make(&watcher_);
  }
  void Make(NameWatcher* watcher) {
    TargetSyncOptions o;
    o.cache_path = (dir_.path() / "targets.pb").string();
    o.node_id = "n1";
    o.names = watcher;
    sync_ = std::make_unique<TargetSync>(table_, *ledger_, nullptr, o);
  }
  absl::Status Answer(const char* name, std::vector<target::Ip> added, std::vector<target::Ip> removed = {}) {
    return sync_->SetNameAddresses(name, added, removed, false, 30, {});
  }
  // The POLICY_ACTIVATED records of one event, as "target added removed".
  std::vector<std::string> Records(const std::string& event) {
    std::vector<std::string> out;
    (void)ledger_->Scan(0, [&](const ledger::Record& r) {
      if (r.Field("event") == event)
        out.push_back(StrCat(*r.Field("target"), " +", *r.Field("added"), " -", *r.Field("removed")));
      return true;
    });
    return out;
  }

  taogate::testing::TempDir dir_;
  FakeTable table_;
  FakeWatcher watcher_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<TargetSync> sync_;
};

TEST_F(NamedTargetSyncTest, WithoutAResolverANamedSetIsRefusedWholeAndThePreviousStays) {
  Make(nullptr);
  ASSERT_TRUE(sync_->Apply(Set('a')).ok());
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "db.prod.internal", 5432);
  absl::Status st = sync_->Apply(named);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("db.prod.internal"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("resolves no names"));
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432"}));  // not dropped, not half-applied
  EXPECT_EQ(sync_->state().policy_sha256, std::string(64, 'a'));
  EXPECT_EQ(sync_->state().names_unresolved_total, 1u);
  EXPECT_EQ(LoadTargetsCache((dir_.path() / "targets.pb").string())->policy_sha256(), std::string(64, 'a'));
}

TEST_F(NamedTargetSyncTest, TheNamesAddressesJoinTheMapsAsTheyAreAnsweredAndEachChangeIsRecorded) {
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "db.prod.internal", 5432);
  ASSERT_TRUE(sync_->Apply(named).ok());
  EXPECT_THAT(watcher_.watched, ElementsAre("db.prod.internal"));
  EXPECT_EQ(sync_->state().names_pending, 1u);
  EXPECT_TRUE(sync_->NameAddresses("db.prod.internal").empty());  // no grant can cover it yet

  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.1"), Ip("fd00::1")}).ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432", "tcp:10.9.0.1:5432", "tcp:[fd00::1]:5432"}));
  EXPECT_EQ(sync_->state().names_pending, 0u);
  EXPECT_EQ(sync_->NameAddresses("db.prod.internal").size(), 2u);

  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.2")}, {Ip("10.9.0.1")}).ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432", "tcp:10.9.0.2:5432", "tcp:[fd00::1]:5432"}));
  EXPECT_THAT(Records("name_addresses"), ElementsAre("db.prod.internal +10.9.0.1,fd00::1 -",
                                                     "db.prod.internal +10.9.0.2 -10.9.0.1"));
  EXPECT_EQ(sync_->state().name_changes_total, 2u);
}

TEST_F(NamedTargetSyncTest, AnAddressSharedWithACidrOrAnotherNameStaysProtectedWhileAnyoneWantsIt) {
  v1::ProtectedTargets named = Set('b');
  AddCidr(&named, "10.9.0.5/32", 5432);
  AddName(&named, "a.example.internal", 5432);
  AddName(&named, "b.example.internal", 5432);
  ASSERT_TRUE(sync_->Apply(named).ok());
  ASSERT_TRUE(Answer("a.example.internal", {Ip("10.9.0.5"), Ip("10.9.0.7")}).ok());
  ASSERT_TRUE(Answer("b.example.internal", {Ip("10.9.0.7")}).ok());
  std::vector<NameView> views = sync_->Names();
  ASSERT_EQ(views.size(), 2u);
  EXPECT_THAT(views[0].shared_with, ElementsAre("b.example.internal", "tcp:10.9.0.5:5432"));

  // a drops both: .5 stays for the CIDR, .7 for b.
  ASSERT_TRUE(Answer("a.example.internal", {Ip("10.9.0.9")}, {Ip("10.9.0.5"), Ip("10.9.0.7")}).ok());
  EXPECT_TRUE(table_.maps.count("tcp:10.9.0.5:5432"));
  EXPECT_TRUE(table_.maps.count("tcp:10.9.0.7:5432"));
  // b drops .7: nobody wants it any more.
  ASSERT_TRUE(Answer("b.example.internal", {Ip("10.9.0.8")}, {Ip("10.9.0.7")}).ok());
  EXPECT_FALSE(table_.maps.count("tcp:10.9.0.7:5432"));
}

TEST_F(NamedTargetSyncTest, FailClosedCatchAllStaysUntilEveryNameHasAnAddress) {
  ASSERT_TRUE(sync_->Start().ok());  // no cache: catch-all
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "a.example.internal", 5432);
  AddName(&named, "b.example.internal", 5432);
  ASSERT_TRUE(sync_->Apply(named).ok());
  EXPECT_TRUE(sync_->state().fail_closed);
  EXPECT_TRUE(table_.maps.count("any:0.0.0.0/0:*"));
  ASSERT_TRUE(Answer("a.example.internal", {Ip("10.9.0.1")}).ok());
  EXPECT_TRUE(table_.maps.count("any:0.0.0.0/0:*")) << "b's addresses are unknown: everything stays denied";
  ASSERT_TRUE(Answer("b.example.internal", {Ip("10.9.0.2")}).ok());
  EXPECT_FALSE(sync_->state().fail_closed);
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432", "tcp:10.9.0.1:5432", "tcp:10.9.0.2:5432"}));
}

TEST_F(NamedTargetSyncTest, AGateRefusalKeepsTheOldAddressesAndIsRetriedByTheNextChange) {
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "db.prod.internal", 5432);
  ASSERT_TRUE(sync_->Apply(named).ok());
  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.1")}).ok());
  table_.fail = "tcp:10.9.0.2:5432";
  EXPECT_FALSE(Answer("db.prod.internal", {Ip("10.9.0.2")}, {Ip("10.9.0.1")}).ok());
  EXPECT_TRUE(table_.maps.count("tcp:10.9.0.1:5432")) << "the old address stays protected";
  EXPECT_TRUE(sync_->NameAddresses("db.prod.internal").empty()) << "no grant over a set the gate does not hold";
  EXPECT_EQ(sync_->state().name_change_failures_total, 1u);
  EXPECT_EQ(Records("name_addresses_rejected").size(), 1u);
  table_.fail.clear();
  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.3")}).ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432", "tcp:10.9.0.2:5432", "tcp:10.9.0.3:5432"}));
}

TEST_F(NamedTargetSyncTest, ANameDroppedByTheNextSetIsUnwatchedAndUnprotected) {
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "db.prod.internal", 5432);
  ASSERT_TRUE(sync_->Apply(named).ok());
  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.1")}).ok());
  ASSERT_TRUE(sync_->Apply(Set('c')).ok());
  EXPECT_TRUE(watcher_.watched.empty());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432"}));
  ASSERT_TRUE(sync_->SetNameAddresses("db.prod.internal", {}, {Ip("10.9.0.1")}, true, 0, {}).ok());
  EXPECT_TRUE(sync_->NameAddresses("db.prod.internal").empty());
}

TEST_F(NamedTargetSyncTest, ARestartProtectsTheLastAnswersAtOnceAndTheFirstFreshAnswerReplacesThem) {
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "db.prod.internal", 5432);
  ASSERT_TRUE(sync_->Apply(named).ok());
  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.1")}).ok());

  table_.maps.clear();  // the restarted agent writes everything again
  Make(&watcher_);
  ASSERT_TRUE(sync_->Start().ok());
  EXPECT_FALSE(sync_->state().fail_closed) << "the cached answers protect the name: no catch-all needed";
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432", "tcp:10.9.0.1:5432"}));
  // The resolver starts empty: its first answer is the whole set, and an
  // address the name lost while the agent was down goes.
  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.2")}).ok());
  EXPECT_EQ(table_.maps, (std::set<std::string>{"tcp:10.0.0.1:5432", "tcp:10.9.0.2:5432"}));
  EXPECT_EQ(Records("name_addresses").back(), "db.prod.internal +10.9.0.2 -10.9.0.1");
}

TEST_F(NamedTargetSyncTest, ACorruptNamesCacheIsIgnoredAndTheNamesWaitForAnswers) {
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "db.prod.internal", 5432);
  ASSERT_TRUE(sync_->Apply(named).ok());
  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.1")}).ok());
  taogate::testing::WriteFile((dir_.path() / "targets.pb.names").string(), "TGNAMES1garbage");
  Make(&watcher_);
  ASSERT_TRUE(sync_->Start().ok());
  EXPECT_TRUE(sync_->state().fail_closed) << "the name's addresses are unknown: everything stays denied";
  EXPECT_EQ(sync_->state().names_pending, 1u);
}

TEST_F(NamedTargetSyncTest, AResolverRefusingTheNamesRefusesTheSet) {
  ASSERT_TRUE(sync_->Apply(Set('a')).ok());
  watcher_.refuse = true;
  v1::ProtectedTargets named = Set('b');
  AddName(&named, "db.prod.internal", 5432);
  EXPECT_EQ(sync_->Apply(named).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sync_->state().policy_sha256, std::string(64, 'a'));
}

// The redeem path over TargetSync's address sets (GateGrants does the same
// against the kernel, names_kernel_test.cc).
class NamedGrants : public GrantTable {
 public:
  explicit NamedGrants(const NameAddressSource& names) : names_(names) {}
  bool IsProtected(const v1::Target& t) const override { return !names_.NameAddresses(t.address()).empty(); }
  absl::Status InstallGrant(uint64_t, const v1::Target& t, const TaoId&, int64_t) override {
    covered = names_.NameAddresses(t.address()).size();
    ++installed;
    return absl::OkStatus();
  }
  size_t covered = 0;
  int installed = 0;

 private:
  const NameAddressSource& names_;
};

class NamedRedeemTest : public NamedTargetSyncTest {
 protected:
  void SetUp() override {
    NamedTargetSyncTest::SetUp();
    grants_ = std::make_unique<NamedGrants>(*sync_);
    redeemer_ = std::make_unique<Redeemer>(
        RedeemConfig{.node_id = "node-a", .governed_root = "/taogate", .cgroup2_mount = "/nonexistent"}, verifier_,
        evidence_, *grants_, clock_);
    v1::ProtectedTargets named = Set('b');
    AddName(&named, "db.prod.internal", 5432);
    ASSERT_TRUE(sync_->Apply(named).ok());
  }
  PeerIdentity Caller() {
    return PeerIdentity{.pid = 100, .uid = 1000, .gid = 1000, .cgroup_path = "/taogate/w1", .cgroup_id = 4242};
  }
  std::string NamedTao() {
    v1::TaoBody body = issuer_.ValidBody();
    body.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
    body.mutable_target()->set_address("db.prod.internal");
    body.mutable_target()->set_port(5432);
    return issuer_.SignToWire(body);
  }

  taogate::testing::TestIssuer issuer_;
  fakes::KeyVerifier verifier_{issuer_.public_key()};
  fakes::MemoryEvidence evidence_;
  std::unique_ptr<NamedGrants> grants_;
  taogate::testing::ManualClock clock_{taogate::testing::NowMs()};
  std::unique_ptr<Redeemer> redeemer_;
};

TEST_F(NamedRedeemTest, ANameWithoutAnAddressYetIsRefusedBeforeTheTaoIsSpent) {
  const std::string wire = NamedTao();
  RedeemOutcome out = redeemer_->Redeem(wire, Caller());
  EXPECT_EQ(out.reason_code, reason::kNameUnresolved);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kFailedPrecondition) << out.status;
  EXPECT_THAT(std::string(out.status.message()), HasSubstr("tcp:db.prod.internal:5432"));
  EXPECT_EQ(grants_->installed, 0);
  EXPECT_EQ(evidence_.Count(Evidence::Kind::kConsumed), 0u);
  EXPECT_EQ(redeemer_->ConsumedCount(), 0u);  // not spent: redeemable once the name resolves

  ASSERT_TRUE(Answer("db.prod.internal", {Ip("10.9.0.1"), Ip("10.9.0.2")}).ok());
  out = redeemer_->Redeem(wire, Caller());
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_EQ(grants_->covered, 2u);
  EXPECT_EQ(evidence_.LastField("target"), "tcp:db.prod.internal:5432");
  EXPECT_EQ(redeemer_->Redeem(wire, Caller()).reason_code, reason::kReplay);
}

}  // namespace
}  // namespace taogate::agent
