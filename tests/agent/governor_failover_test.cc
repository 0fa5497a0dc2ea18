// Issue 18 item 5: "the governor streams resume on another replica without
// re-applying or releasing anything". The agent's GovernorWatch (both of its
// streams) is given two governor replicas on one PostgreSQL (real server and
// real taogate-governor processes); each replica is SIGKILLed in turn so
// every stream has to move. The kill switch engaged before stays engaged and
// is applied once; the protected targets stay the same set; a release made
// through the surviving replica still arrives. No root needed: the node
// control and the target sink are recording fakes.
#include <signal.h>

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "governance/governor_testing.h"
#include "taogate/agent/governor_watch.h"
#include "taogate/agent/service.h"
#include "taogate/common/strings.h"
#include "taogate/rpc/client.h"
#include "testing/postgres.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

using governance::testing::GovernorProcess;

// NodeControl that records kill-switch requests (thread-safe: the watch's
// stream threads call it).
class Control : public NodeControl {
 public:
  void FillStatus(v1::StatusResponse*) override {}
  void FillProbe(v1::ProbeResponse*) override {}
  absl::StatusOr<v1::KillSwitchResponse> KillSwitch(const v1::KillSwitchRequest& req, const PeerIdentity&) override {
    std::lock_guard l(mu_);
    requests_.push_back(req);
    return v1::KillSwitchResponse{};
  }
  absl::StatusOr<v1::LedgerTailResponse> LedgerTail(uint32_t) override { return v1::LedgerTailResponse{}; }
  absl::StatusOr<v1::LedgerTailResponse> LedgerRead(uint64_t, uint32_t) override { return v1::LedgerTailResponse{}; }
  absl::StatusOr<v1::LedgerProofResponse> LedgerProof(uint64_t, uint64_t) override {
    return v1::LedgerProofResponse{};
  }
  std::vector<v1::KillSwitchRequest> requests() const {
    std::lock_guard l(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<v1::KillSwitchRequest> requests_;
};

// TargetSink that records the sets it is given (thread-safe).
class Sink : public TargetSink {
 public:
  absl::Status Apply(const v1::ProtectedTargets& msg) override {
    std::lock_guard l(mu_);
    applied_.push_back(msg);
    return absl::OkStatus();
  }
  TargetSyncState state() const override { return {}; }
  std::vector<v1::ProtectedTargets> applied() const {
    std::lock_guard l(mu_);
    return applied_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<v1::ProtectedTargets> applied_;
};

template <typename F>
bool Eventually(F f, int ms = 10'000) {
  for (int i = 0; i < ms / 20; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

TEST(GovernorFailoverTest, AnAgentsStreamsMoveToAnotherReplicaWithoutReapplyingOrReleasing) {
  auto pg = taogate::testing::PostgresServer::Create();
  if (!pg.ok() && pg.status().code() == absl::StatusCode::kUnavailable) GTEST_SKIP() << pg.status();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto db = (*pg)->CreateDatabase("governor");
  ASSERT_TRUE(db.ok()) << db.status();
  auto m = taogate::testing::RunCommand(
      {taogate::testing::BinPath("taogate-governor"), "migrate", "--ledger-postgres", *db});
  ASSERT_EQ(m.exit_code, 0) << m.err;

  GovernorProcess a, b;  // one certificate for both, as a Deployment's pods
  const std::vector<std::string> a_args = {"--ledger-postgres", *db, "--instance", "gov-a"};
  ASSERT_TRUE(a.Start(a_args)) << a.error();
  ASSERT_TRUE(b.Start({"--ledger-postgres", *db, "--instance", "gov-b", "--tls-ca", (a.dir() / "ca.crt").string(),
                       "--tls-cert", (a.dir() / "server.crt").string(), "--tls-key",
                       (a.dir() / "server.key").string()}))
      << b.error();
  auto kill_switch = [&](GovernorProcess& via, bool engage) {
    v1::GovernorKillSwitchRequest k;
    k.set_engage(engage);
    k.set_workload("w1");
    k.set_reason(engage ? "incident 7" : "resolved");
    v1::GovernorKillSwitchResponse r;
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return via.Client(governance::testing::kAdmin)->KillSwitch(&c, k, &r);
  };
  ASSERT_TRUE(kill_switch(a, true).ok());

  Control control;
  Sink sink;
  GovernorWatchOptions o;
  o.address = StrCat(a.address(), ",", b.address());
  ASSERT_TRUE(rpc::ValidateGovernorAddress(o.address).ok());
  o.tls = a.TlsFor(governance::testing::kAgent);
  o.node_id = "n1";
  o.retry_initial_ms = 50;
  o.retry_max_ms = 200;
  auto watch = GovernorWatch::Start(o, sink, control);
  ASSERT_TRUE(Eventually([&] { return control.requests().size() == 1 && !sink.applied().empty(); }))
      << "the watch never got the kill switch and the targets";
  const std::string policy = sink.applied().back().policy_sha256();

  // Each replica dies in turn (A comes back on its port before B goes), so
  // whichever replica each stream was on, both streams move at least once.
  const uint64_t reconnects0 = watch->state().reconnects;
  ::kill(a.pid(), SIGKILL);
  a.Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // streams on A moved to B
  std::vector<std::string> again = a_args;
  again.insert(again.end(), {"--listen", a.address()});
  ASSERT_TRUE(a.Start(again)) << a.error();
  ::kill(b.pid(), SIGKILL);
  b.Stop();
  ASSERT_TRUE(Eventually([&] { return watch->state().reconnects >= reconnects0 + 2; }))
      << "the streams did not end with their replicas";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // history replayed by A

  std::vector<v1::KillSwitchRequest> reqs = control.requests();
  ASSERT_EQ(reqs.size(), 1u) << "a replica's history re-applied or released the kill switch";
  EXPECT_EQ(reqs[0].action(), v1::KILL_SWITCH_ENGAGE);
  for (const auto& t : sink.applied()) EXPECT_EQ(t.policy_sha256(), policy);

  // The release made through the replica that is left still arrives.
  ASSERT_TRUE(kill_switch(a, false).ok());
  ASSERT_TRUE(Eventually([&] { return control.requests().size() == 2; })) << "the release never arrived";
  EXPECT_EQ(control.requests()[1].action(), v1::KILL_SWITCH_RELEASE);
  watch->Stop();
  std::cout << "[ha] agent streams survived both replicas dying in turn: " << watch->state().reconnects
            << " reconnects, kill switch applied once, released once\n";
}

}  // namespace
}  // namespace taogate::agent
