// TargetSync in-process against the real kernel gate (on the harness's
// private bpffs and test cgroups, no agent process): whole-update rejection,
// diff application with shared map keys, static targets, the FILE/EXEC sink,
// and the fail-closed catch-all with redeem-free connects checked by a real
// workload process.
#include "taogate/agent/target_sync.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "taogate/agent/gate_grants.h"
#include "taogate/common/strings.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

// A sink that records what it was asked (the LSM side is another module).
class RecordingSink : public FileExecSink {
 public:
  absl::Status Protect(v1::TargetProto kind, const std::string& path) override {
    std::lock_guard l(mu_);
    if (path == "/refuse" && !accept_refuse_) return absl::NotFoundError("absent on this node");
    paths_.insert(StrCat(static_cast<int>(kind), ":", path));
    return absl::OkStatus();
  }
  absl::Status Unprotect(v1::TargetProto kind, const std::string& path) override {
    std::lock_guard l(mu_);
    paths_.erase(StrCat(static_cast<int>(kind), ":", path));
    return absl::OkStatus();
  }
  std::set<std::string> paths() {
    std::lock_guard l(mu_);
    return paths_;
  }
  void AcceptRefuse() {
    std::lock_guard l(mu_);
    accept_refuse_ = true;
  }

 private:
  std::mutex mu_;
  std::set<std::string> paths_;
  bool accept_refuse_ = false;
};

class TargetSyncKernelTest : public AgentTest {
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
    MakeWorkload("w1");
  }
  void TearDown() override {
    sync_.reset();
    ledger_.reset();
    grants_.reset();
    gate_.reset();
    AgentTest::TearDown();
  }
  void MakeSync(std::vector<std::string> statics = {}, FileExecSink* sink = nullptr) {
    TargetSyncOptions o;
    o.cache_path = dir_->path().string() + "/targets.pb";
    o.node_id = node_id_;
    o.static_targets = std::move(statics);
    sync_ = std::make_unique<TargetSync>(*grants_, *ledger_, sink, o);
  }
  static v1::ProtectedTargets Set(char sha, std::vector<int> tcp_ports, std::vector<std::string> files = {}) {
    v1::ProtectedTargets m;
    m.set_policy_sha256(std::string(64, sha));
    for (int p : tcp_ports) {
      auto* t = m.add_targets();
      t->set_proto(v1::TARGET_PROTO_TCP);
      t->set_cidr("127.0.0.1/32");
      t->set_port_from(p);
      t->set_port_to(p);
    }
    for (const auto& f : files) {
      auto* t = m.add_targets();
      t->set_proto(v1::TARGET_PROTO_FILE);
      t->set_path(f);
    }
    return m;
  }
  bool Connects(int port) {
    auto r = RunIn("w1", {"connect", "127.0.0.1", std::to_string(port)});
    EXPECT_TRUE(r.Has("CONNECT OK") || r.Has("CONNECT ERR EPERM")) << r.out;
    return r.Has("CONNECT OK");
  }
  static v1::ProtectedTargets WithNode(v1::ProtectedTargets m, int port) {
    auto* t = m.add_targets();
    t->set_proto(v1::TARGET_PROTO_TCP);
    t->set_cidr("node");
    t->set_port_from(port);
    t->set_port_to(port);
    return m;
  }
  // What the redeem path asks: is addr:port in the gate's maps?
  bool InMaps(const std::string& addr, int port) {
    v1::Target t;
    t.set_proto(v1::TARGET_PROTO_TCP);
    t.set_address(addr);
    t.set_port(port);
    return grants_->IsProtected(t);
  }
  size_t Records(const std::string& event) {
    size_t n = 0;
    ledger_->Scan(0, [&](const ledger::Record& r) {
      n += r.kind == RecordKind::kPolicyActivated && r.Field("event") == std::optional<std::string_view>(event);
      return true;
    }).IgnoreError();
    return n;
  }

  std::unique_ptr<bpf::Gate> gate_;
  std::unique_ptr<GateGrants> grants_;  // the gate as TargetSync and the redeem path see it
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<TargetSync> sync_;
};

TEST_F(TargetSyncKernelTest, MalformedUpdateRejectedWholePreviousSetStays) {
  MakeSync();
  ASSERT_TRUE(sync_->Apply(Set('a', {open_->port()})).ok());
  ASSERT_FALSE(Connects(open_->port()));
  // Drops open_'s port and adds one good and one bad entry: nothing of it applies.
  auto bad = Set('b', {protected_->port()});
  bad.add_targets()->set_proto(v1::TARGET_PROTO_UNSPECIFIED);
  EXPECT_EQ(sync_->Apply(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Connects(open_->port()));
  EXPECT_TRUE(Connects(protected_->port()));
  EXPECT_EQ(sync_->state().policy_sha256, std::string(64, 'a'));
  EXPECT_EQ(sync_->state().rejected_total, 1u);
  EXPECT_EQ(Records("rejected"), 1u);
  EXPECT_EQ(LoadTargetsCache(dir_->path().string() + "/targets.pb")->policy_sha256(), std::string(64, 'a'));
}

TEST_F(TargetSyncKernelTest, StaticTargetSharingAMapKeySurvivesGovernorRemoval) {
  // The static any:127.0.0.1:P and the governor's tcp 127.0.0.1/32:P share the tcp map key.
  std::string p = std::to_string(protected_->port());
  ASSERT_TRUE(gate_->AddTarget(*target::Parse("any:127.0.0.1:" + p, target::Form::kProtected)).ok());
  MakeSync({"any:127.0.0.1:" + p});
  ASSERT_TRUE(sync_->Apply(Set('a', {protected_->port(), open_->port()})).ok());
  ASSERT_TRUE(sync_->Apply(Set('b', {})).ok());
  EXPECT_FALSE(Connects(protected_->port())) << "removing the governor's target removed the static one";
  EXPECT_TRUE(Connects(open_->port()));
}

TEST_F(TargetSyncKernelTest, GovernorNodeTargetFollowsTheNodeAddresses) {
  int p = open_->port();
  MakeSync();
  ASSERT_TRUE(sync_->SetNodeAddresses({"192.0.2.7", "fe80::7"}).ok());
  ASSERT_TRUE(sync_->Apply(WithNode(Set('a', {}), p)).ok());
  EXPECT_FALSE(Connects(p));  // 127.0.0.1 is a node address
  EXPECT_TRUE(InMaps("192.0.2.7", p));
  EXPECT_TRUE(InMaps("fe80::7", p));
  ASSERT_TRUE(sync_->SetNodeAddresses({"192.0.2.9"}).ok());
  EXPECT_TRUE(InMaps("192.0.2.9", p));
  EXPECT_FALSE(InMaps("192.0.2.7", p));
  EXPECT_FALSE(InMaps("fe80::7", p));
  EXPECT_FALSE(Connects(p));
  EXPECT_EQ(Records("node_addresses"), 1u);
  EXPECT_EQ(sync_->state().node_address_changes_total, 1u);
}

TEST_F(TargetSyncKernelTest, GoneNodeAddressKeepsAnotherTargetsEntry) {
  int p = open_->port();
  MakeSync({StrCat("tcp:node:", p), StrCat("tcp:192.0.2.8:", p)});
  ASSERT_TRUE(sync_->SetNodeAddresses({"192.0.2.7", "192.0.2.8"}).ok());
  ASSERT_TRUE(sync_->Apply(Set('a', {})).ok());
  ASSERT_TRUE(InMaps("192.0.2.7", p));
  ASSERT_TRUE(sync_->SetNodeAddresses({}).ok());
  EXPECT_FALSE(InMaps("192.0.2.7", p));
  EXPECT_TRUE(InMaps("192.0.2.8", p)) << "the static target went with the node address";
  EXPECT_FALSE(Connects(p));
}

TEST_F(TargetSyncKernelTest, StaticNodeTargetWithoutGovernorFollowsAddresses) {
  int p = open_->port();
  TargetSyncOptions o;  // no cache_path: no governor, static targets only
  o.node_id = node_id_;
  o.static_targets = {StrCat("tcp:node:", p)};
  sync_ = std::make_unique<TargetSync>(*grants_, *ledger_, nullptr, o);
  ASSERT_TRUE(sync_->SetNodeAddresses({"192.0.2.7"}).ok());
  ASSERT_TRUE(sync_->Start().ok());
  EXPECT_FALSE(sync_->state().fail_closed);
  EXPECT_TRUE(Connects(protected_->port()));  // no catch-all
  EXPECT_FALSE(Connects(p));
  EXPECT_TRUE(InMaps("192.0.2.7", p));
  ASSERT_TRUE(sync_->SetNodeAddresses({"192.0.2.9"}).ok());
  EXPECT_FALSE(InMaps("192.0.2.7", p));
  EXPECT_TRUE(InMaps("192.0.2.9", p));
}

TEST_F(TargetSyncKernelTest, AddressChangeTheMapsCannotHoldKeepsThePreviousSet) {
  // 4096 ports per address: 17 IPv4 addresses (127/8 included) need more
  // than the 65536 entries the map holds, so the change fails midway.
  MakeSync({"tcp:node:1-4096"});
  ASSERT_TRUE(sync_->SetNodeAddresses({"192.0.2.1"}).ok());
  ASSERT_TRUE(sync_->Apply(Set('a', {})).ok());
  std::vector<std::string> many;
  for (int i = 2; i <= 17; ++i) many.push_back(StrCat("192.0.2.", i));
  EXPECT_FALSE(sync_->SetNodeAddresses(many).ok());
  EXPECT_TRUE(InMaps("192.0.2.1", 80));
  EXPECT_FALSE(InMaps("192.0.2.2", 80)) << "additions not rolled back";
  EXPECT_EQ(sync_->state().node_address_failures_total, 1u);
  EXPECT_EQ(Records("node_addresses_rejected"), 1u);
}

TEST_F(TargetSyncKernelTest, FileAndExecGoToTheSinkByDiff) {
  RecordingSink sink;
  MakeSync({}, &sink);
  ASSERT_TRUE(sync_->Apply(Set('a', {}, {"/etc/a", "/etc/b"})).ok());
  EXPECT_EQ(sink.paths(), (std::set<std::string>{"4:/etc/a", "4:/etc/b"}));
  ASSERT_TRUE(sync_->Apply(Set('b', {}, {"/etc/b", "/etc/c"})).ok());
  EXPECT_EQ(sink.paths(), (std::set<std::string>{"4:/etc/b", "4:/etc/c"}));
  // A path this node cannot enforce is counted as not enforced; the rest of
  // the set (network targets included) still applies.
  ASSERT_TRUE(sync_->Apply(Set('c', {open_->port()}, {"/etc/d", "/refuse"})).ok());
  EXPECT_EQ(sink.paths(), (std::set<std::string>{"4:/etc/d"}));
  EXPECT_FALSE(Connects(open_->port()));
  EXPECT_EQ(sync_->state().not_enforced, 1u);
  EXPECT_EQ(LoadTargetsCache(dir_->path().string() + "/targets.pb")->policy_sha256(), std::string(64, 'c'));
  // ... and retried on every update until it can be enforced.
  sink.AcceptRefuse();
  ASSERT_TRUE(sync_->Apply(Set('d', {open_->port()}, {"/etc/d", "/refuse"})).ok());
  EXPECT_EQ(sink.paths(), (std::set<std::string>{"4:/etc/d", "4:/refuse"}));
  EXPECT_EQ(sync_->state().not_enforced, 0u);
}

TEST_F(TargetSyncKernelTest, FirstSetWithAnUnenforceableFileStillLiftsTheCatchAll) {
  RecordingSink sink;
  MakeSync({}, &sink);
  ASSERT_TRUE(sync_->Start().ok());
  EXPECT_TRUE(sync_->state().fail_closed);
  ASSERT_TRUE(sync_->Apply(Set('a', {open_->port()}, {"/refuse"})).ok());
  EXPECT_FALSE(sync_->state().fail_closed);
  EXPECT_EQ(sync_->state().not_enforced, 1u);
  EXPECT_TRUE(LoadTargetsCache(dir_->path().string() + "/targets.pb").ok());
  EXPECT_TRUE(Connects(protected_->port()));  // not in the set, and the catch-all is gone
  EXPECT_FALSE(Connects(open_->port()));
}

TEST_F(TargetSyncKernelTest, WithoutSinkFileTargetsAreCountedNotEnforced) {
  MakeSync();
  ASSERT_TRUE(sync_->Apply(Set('a', {open_->port()}, {"/etc/a"})).ok());
  EXPECT_EQ(sync_->state().not_enforced, 1u);
  EXPECT_EQ(sync_->state().targets, 2u);
  EXPECT_FALSE(Connects(open_->port()));
}

TEST_F(TargetSyncKernelTest, FailClosedUntilFirstSetAndQuarantineUntouched) {
  MakeSync();
  ASSERT_TRUE(sync_->Start().ok());  // no cache
  EXPECT_TRUE(sync_->state().fail_closed);
  EXPECT_FALSE(Connects(open_->port()));
  // An operator's kill switch engaged meanwhile...
  ASSERT_TRUE(gate_->Quarantine(workloads_["w1"], bpf::QuarantineMode::kNetwork).ok());
  ASSERT_TRUE(sync_->Apply(Set('a', {protected_->port()})).ok());
  EXPECT_FALSE(sync_->state().fail_closed);
  // ... is not lifted with the catch-all.
  EXPECT_FALSE(Connects(open_->port()));
  ASSERT_TRUE(gate_->Release(workloads_["w1"]).ok());
  EXPECT_TRUE(Connects(open_->port()));
  EXPECT_FALSE(Connects(protected_->port()));
  EXPECT_EQ(Records("fail_closed"), 1u);
  EXPECT_EQ(Records("applied"), 1u);
}

}  // namespace
}  // namespace taogate::agent::testing
