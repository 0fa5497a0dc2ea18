// Governor replicas on one PostgreSQL ledger (issue 18), against a real
// PostgreSQL started by the test on loopback and real taogate-governor
// processes: the schema migrated only on request, three replicas appending
// to one chain while one is SIGKILLed under load, every TAO a client holds
// backed by its ISSUED record, every replica's checkpoints verifying against
// the others' records, and the database going away and coming back.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "governance/governor_testing.h"
#include "taogate/governance/approval.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/pg_ledger.h"
#include "taogate/ledger/verify.h"
#include "taogate/pgstore/pg.h"
#include "taogate/rpc/client.h"
#include "testing/postgres.h"

namespace taogate::governance {
namespace {

using testing::GovernorProcess;
using testing::kAgent;
using taogate::testing::PostgresServer;
using taogate::testing::RunCommand;

// One allow rule for kAgent, no rate limit.
constexpr char kPolicy[] = R"(version: 1
name: ha
roles: [{id: agent}]
actors: [{identity: "spiffe://test.example/agent", roles: [agent]}]
workloads: [{id: w, selectors: {cgroup_paths: [/ha]}}]
targets: [{id: db, networks: [{cidrs: [127.0.0.1/32], ports: [5432], protocols: [tcp]}]}]
action_classes: [{id: db.read, ttl: 60s}]
rules: [{id: r, effect: allow, roles: [agent], workloads: [w], actions: [db.read], targets: [db]}]
)";

v1::AuthorizationRequest Req() {
  v1::AuthorizationRequest r;
  r.mutable_binding()->set_node_id("n1");
  r.mutable_binding()->set_cgroup_id(7);
  r.set_cgroup_path("/ha");
  r.set_action_class("db.read");
  r.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
  r.mutable_target()->set_address("127.0.0.1");
  r.mutable_target()->set_port(5432);
  r.set_reason("replica test");
  return r;
}

// A TAO a client received, and the replica that issued it.
struct Got {
  int replica;
  std::string tao;
};

// Every record of the shared ledger, by seq.
std::map<uint64_t, ledger::Record> AllRecords(const ledger::Log& l) {
  std::map<uint64_t, ledger::Record> records;
  EXPECT_TRUE(l.Scan(0, [&](const ledger::Record& r) {
                 records.emplace(r.seq, r);
                 return true;
               }).ok());
  return records;
}

// "No TAO issued without its ISSUED record": each TAO verifies against its
// replica's root and names the seq of the ISSUED record with its id.
void ExpectEveryTaoRecorded(const std::vector<Got>& got, const std::vector<keys::TrustBundle>& bundles,
                            const std::map<uint64_t, ledger::Record>& records) {
  for (const Got& g : got) {
    v1::Tao tao;
    ASSERT_TRUE(tao.ParseFromString(g.tao));
    auto body = bundles[static_cast<size_t>(g.replica)].VerifyTao(tao, testing::NowMs(), 120'000, false);
    ASSERT_TRUE(body.ok()) << body.status();
    auto it = records.find(body->decision_ledger_index());
    ASSERT_NE(it, records.end()) << "a TAO names seq " << body->decision_ledger_index() << ", not in the ledger";
    EXPECT_EQ(it->second.kind, ledger::RecordKind::kIssued);
    EXPECT_EQ(it->second.Field("tao_id"), ToHex(body->id()));
  }
}

class GovernorHaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = PostgresServer::Create();
    if (!pg.ok() && pg.status().code() == absl::StatusCode::kUnavailable) GTEST_SKIP() << pg.status();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    auto db = pg_->CreateDatabase("governor");
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
  }

  taogate::testing::CommandResult Migrate() {
    return RunCommand({taogate::testing::BinPath("taogate-governor"), "migrate", "--ledger-postgres", conninfo_});
  }

  // Starts replica `name` on the shared ledger.
  bool StartReplica(GovernorProcess& g, const std::string& name) {
    taogate::testing::WriteFile(g.policy_path(), kPolicy);
    return g.Start({"--ledger-postgres", conninfo_, "--instance", name});
  }

  std::unique_ptr<ledger::PgLedger> OpenReader() {
    ledger::PgLedgerOptions o;
    o.conninfo = conninfo_;
    o.read_only = true;
    auto l = ledger::PgLedger::Open(o);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? std::move(*l) : nullptr;
  }

  std::unique_ptr<PostgresServer> pg_;
  std::string conninfo_;
  taogate::testing::TempDir tmp_;
};

TEST_F(GovernorHaTest, TheSchemaIsMigratedOnlyOnRequest) {
  GovernorProcess g;
  ASSERT_FALSE(StartReplica(g, "gov-a"));
  EXPECT_NE(g.error().find("taogate-governor migrate"), std::string::npos) << g.error();
  auto m = Migrate();
  ASSERT_EQ(m.exit_code, 0) << m.out << m.err;
  EXPECT_NE(m.out.find(StrCat("applied schema version ", pgstore::kSchemaVersion)), std::string::npos) << m.out;
  m = Migrate();
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(m.out.find("applied"), std::string::npos) << m.out;
  ASSERT_TRUE(StartReplica(g, "gov-a")) << g.error();
  v1::Decision d;
  ASSERT_TRUE(g.Authorize(kAgent, Req(), &d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
}

// Issue 18: "SIGKILL a replica at random points during load: no TAO issued
// without its ISSUED record, no ledger gap or fork; every replica's
// checkpoint verifies against the others' records".
TEST_F(GovernorHaTest, ThreeReplicasOneChainAndAReplicaKilledUnderLoad) {
  ASSERT_EQ(Migrate().exit_code, 0);
  constexpr int kReplicas = 3, kClients = 64;
  std::vector<std::unique_ptr<GovernorProcess>> gov;
  for (int i = 0; i < kReplicas; ++i) {
    gov.push_back(std::make_unique<GovernorProcess>());
    ASSERT_TRUE(StartReplica(*gov.back(), StrCat("gov-", i))) << gov.back()->error();
  }
  std::mutex mu;
  std::vector<Got> got;
  std::atomic<bool> stop{false};
  std::atomic<int> refused_by_killed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    const int r = i % kReplicas;
    clients.emplace_back([&, r] {
      auto stub = gov[static_cast<size_t>(r)]->Client(kAgent);
      while (!stop) {
        v1::Decision d;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        grpc::Status s = stub->RequestAuthorization(&ctx, Req(), &d);
        if (s.ok() && d.outcome() == v1::OUTCOME_PERMIT) {
          std::lock_guard l(mu);
          got.push_back({r, d.tao()});
        } else if (r == 1) {
          ++refused_by_killed;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }
  // A random point once the load runs (64 TLS handshakes first).
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard l(mu);
      if (!got.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::mt19937 rng(std::random_device{}());
  const int kill_after_ms = std::uniform_int_distribution<int>(100, 1500)(rng);
  std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
  size_t before_kill;
  {
    std::lock_guard l(mu);
    before_kill = got.size();
  }
  ::kill(gov[1]->pid(), SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : clients) t.join();
  gov[0]->Stop();  // SIGTERM: each writes its closing checkpoint
  gov[2]->Stop();
  gov[1]->Stop();  // reaps the killed one
  ASSERT_GT(before_kill, 0u) << "no TAO before the kill (after " << kill_after_ms << " ms)";
  ASSERT_GT(got.size(), before_kill) << "the surviving replicas issued nothing after the kill";

  auto reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  const std::map<uint64_t, ledger::Record> records = AllRecords(*reader);
  std::vector<keys::TrustBundle> bundles;
  for (auto& g : gov) bundles.push_back(*g->SoftwareTrustBundle());
  ExpectEveryTaoRecorded(got, bundles, records);
  uint64_t started = 0;
  for (const auto& [seq, r] : records) started += r.kind == ledger::RecordKind::kStarted;
  EXPECT_EQ(started, 3u);

  // The audit of the export: one chain, every checkpoint's root the tree's
  // at its size, each signed by the current key of its replica, that key
  // certified by the replica's root.
  const std::string dir = (tmp_.path() / "export").string();
  ASSERT_TRUE(ledger::ExportSegments(*reader, dir).ok());
  ledger::VerifyOptions o;
  std::set<std::string> signers;
  o.key_chain = [&](const ledger::Record& r) -> absl::StatusOr<ledger::CertifiedKey> {
    auto cert = ledger::Base64Decode(r.Field("certificate").value_or(""));
    if (!cert.ok()) return cert.status();
    for (const auto& b : bundles) {
      auto issuer = b.VerifyCertificate(*cert, r.time_ns / 1'000'000, false);
      if (!issuer.ok()) continue;
      ledger::CertifiedKey k;
      k.verifier.public_key = issuer->issuing_public_key;
      k.not_before_ms = issuer->not_before_ms;
      k.not_after_ms = issuer->not_after_ms;
      k.signer = issuer->instance;
      signers.insert(issuer->instance);
      return k;
    }
    return absl::UnauthenticatedError("no replica's root certifies it");
  };
  auto sum = ledger::VerifyLedger(dir, o);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->records, records.size());
  EXPECT_EQ(signers, (std::set<std::string>{"gov-0", "gov-1", "gov-2"}));
  EXPECT_GE(sum->signatures_verified, 2u);  // the survivors' closing checkpoints at least
  EXPECT_EQ(sum->signatures_verified, sum->checkpoints);
  std::cout << "[ha] " << got.size() << " TAOs (" << before_kill << " before the kill at " << kill_after_ms
            << " ms), " << records.size() << " records, " << sum->checkpoints << " checkpoints\n";
}

// Issue 18: "PostgreSQL stopped and restarted mid-load": 32 clients over two
// replicas while the server is killed and started again. Every TAO a client
// got has its ISSUED record, the chain has no gap, and both replicas serve
// again afterwards.
TEST_F(GovernorHaTest, PostgresKilledAndRestartedMidLoadLosesNothing) {
  ASSERT_EQ(Migrate().exit_code, 0);
  GovernorProcess a, b;
  ASSERT_TRUE(StartReplica(a, "gov-a")) << a.error();
  ASSERT_TRUE(StartReplica(b, "gov-b")) << b.error();
  GovernorProcess* gov[] = {&a, &b};
  std::mutex mu;
  std::vector<Got> got;
  std::atomic<bool> stop{false}, restarted{false};
  std::atomic<int> after_restart{0}, refused{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back([&, r = i % 2] {
      auto stub = gov[r]->Client(kAgent);
      while (!stop) {
        v1::Decision d;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        grpc::Status s = stub->RequestAuthorization(&ctx, Req(), &d);
        if (s.ok() && d.outcome() == v1::OUTCOME_PERMIT) {
          std::lock_guard l(mu);
          got.push_back({r, d.tao()});
          if (restarted) ++after_restart;
        } else {
          ++refused;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  pg_->Crash();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_TRUE(pg_->Start().ok());
  restarted = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : clients) t.join();
  a.Stop();
  b.Stop();
  EXPECT_GT(refused, 0) << "the outage refused nothing";
  EXPECT_GT(after_restart, 0) << "nothing was served after the server came back";

  auto reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  ExpectEveryTaoRecorded(got, {*a.SoftwareTrustBundle(), *b.SoftwareTrustBundle()}, AllRecords(*reader));
  const std::string dir = (tmp_.path() / "export").string();
  ASSERT_TRUE(ledger::ExportSegments(*reader, dir).ok());
  auto sum = ledger::VerifyLedger(dir);
  ASSERT_TRUE(sum.ok()) << sum.status();
  std::cout << "[ha] postgres restarted mid-load: " << got.size() << " TAOs (" << after_restart
            << " after the restart), " << refused << " refused during the outage, " << sum->records
            << " records, one chain\n";
}

// Issue 18 item 6: PostgreSQL down -> no TAO (UNAVAILABLE), /healthz 503;
// back up -> service resumes with nothing lost or duplicated.
TEST_F(GovernorHaTest, PostgresDownStopsIssuanceAndItResumes) {
  ASSERT_EQ(Migrate().exit_code, 0);
  GovernorProcess g;
  ASSERT_TRUE(StartReplica(g, "gov-a")) << g.error();
  v1::Decision d;
  ASSERT_TRUE(g.Authorize(kAgent, Req(), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_NE(testing::HttpGet(g.MetricsPort(), "/healthz").find("200"), std::string::npos);

  pg_->Crash();
  v1::Decision down;
  grpc::Status s = g.Authorize(kAgent, Req(), &down);
  EXPECT_FALSE(s.ok() && !down.tao().empty()) << "a TAO was issued with the ledger down";
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("postgresql"), std::string::npos) << s.error_message();
  const std::string health = testing::HttpGet(g.MetricsPort(), "/healthz");
  EXPECT_NE(health.find("503"), std::string::npos) << health;
  EXPECT_NE(health.find("postgresql"), std::string::npos) << health;

  ASSERT_TRUE(pg_->Start().ok());
  v1::Decision back;
  ASSERT_TRUE(g.Authorize(kAgent, Req(), &back).ok());
  EXPECT_EQ(back.outcome(), v1::OUTCOME_PERMIT) << back.reason();
  EXPECT_EQ(back.ledger_seq(), d.ledger_seq() + 1) << "a record was lost or duplicated across the outage";
  const std::string healthy = testing::HttpGet(g.MetricsPort(), "/healthz");
  EXPECT_NE(healthy.find("200"), std::string::npos) << healthy;
  g.Stop();
  auto reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  const std::string dir = (tmp_.path() / "export").string();
  ASSERT_TRUE(ledger::ExportSegments(*reader, dir).ok());
  EXPECT_TRUE(ledger::VerifyLedger(dir).ok());
}

// Issue 18 item 4: "a kill switch engaged on one replica reaches agents
// watching any replica within a bounded time": engaged on A, a watcher of C
// (the agent's stream) gets it; a replica started later serves the history.
TEST_F(GovernorHaTest, AKillSwitchEngagedOnOneReplicaReachesWatchersOfAnother) {
  ASSERT_EQ(Migrate().exit_code, 0);
  GovernorProcess a, c;
  ASSERT_TRUE(StartReplica(a, "gov-a")) << a.error();
  ASSERT_TRUE(StartReplica(c, "gov-c")) << c.error();

  auto watcher = c.Client(kAgent);
  grpc::ClientContext wctx;
  v1::WatchKillSwitchRequest wreq;
  wreq.set_node_id("n1");
  auto stream = watcher->WatchKillSwitch(&wctx, wreq);
  std::atomic<int64_t> got_at_ms{0};
  v1::GovernorKillSwitchRequest got;
  std::thread reader([&] {
    v1::GovernorKillSwitchRequest m;
    while (stream->Read(&m)) {
      if (m.engage()) {
        got = m;
        got_at_ms = testing::NowMs();
        return;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the stream is open

  v1::GovernorKillSwitchRequest k;
  k.set_engage(true);
  k.set_reason("incident 42");
  v1::GovernorKillSwitchResponse resp;
  grpc::ClientContext kctx;
  kctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const int64_t engaged_at_ms = testing::NowMs();
  grpc::Status s = a.Client(testing::kAdmin)->KillSwitch(&kctx, k, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.sequence(), 1u);
  for (int i = 0; i < 100 && got_at_ms == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  wctx.TryCancel();
  reader.join();
  ASSERT_NE(got_at_ms, 0) << "replica C's watcher never saw the kill switch engaged on A";
  EXPECT_EQ(got.sequence(), 1u);
  EXPECT_EQ(got.reason(), "incident 42");
  const int64_t took = got_at_ms - engaged_at_ms;
  EXPECT_LT(took, 2000) << "bounded by the 1 s poll even without the notification";
  std::cout << "[ha] kill switch engaged on A reached C's watcher in " << took << " ms\n";

  // A replica started afterwards (or C restarted) serves the same history.
  GovernorProcess d;
  ASSERT_TRUE(StartReplica(d, "gov-d")) << d.error();
  grpc::ClientContext dctx;
  dctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto history = d.Client(kAgent)->WatchKillSwitch(&dctx, wreq);
  v1::GovernorKillSwitchRequest first;
  ASSERT_TRUE(history->Read(&first));
  EXPECT_TRUE(first.engage());
  EXPECT_EQ(first.sequence(), 1u);
  dctx.TryCancel();
}

// Issue 18: "the active policy bundle and its history" shared. A bundle
// activated on A becomes B's within a bounded time, B's decisions follow it,
// and a restarted B starts with it rather than with its file.
TEST_F(GovernorHaTest, APolicyActivatedOnOneReplicaIsEveryReplicasAndSurvivesARestart) {
  ASSERT_EQ(Migrate().exit_code, 0);
  GovernorProcess a, b;
  ASSERT_TRUE(StartReplica(a, "gov-a")) << a.error();
  ASSERT_TRUE(StartReplica(b, "gov-b")) << b.error();
  v1::Decision d;
  ASSERT_TRUE(b.Authorize(kAgent, Req(), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT);

  std::string deny = kPolicy;
  deny.replace(deny.find("effect: allow"), 13, "effect: deny");
  v1::ActivatePolicyRequest req;
  req.set_bundle_yaml(deny);
  req.set_name("deny.yaml");
  v1::ActivatePolicyResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(a.Client(testing::kAdmin)->ActivatePolicy(&ctx, req, &resp).ok());
  ASSERT_TRUE(resp.errors().empty()) << resp.errors(0);
  const int64_t t0 = testing::NowMs();
  auto sha_on = [&](GovernorProcess& g) {
    v1::GetPolicyRequest gr;
    v1::GetPolicyResponse r;
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    g.Client(kAgent)->GetPolicy(&c, gr, &r);
    return r.policy_sha256();
  };
  while (sha_on(b) != resp.policy_sha256() && testing::NowMs() - t0 < 5000)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const int64_t took = testing::NowMs() - t0;
  ASSERT_EQ(sha_on(b), resp.policy_sha256()) << "B never followed A's activation";
  EXPECT_LT(took, 2000);
  std::cout << "[ha] policy activated on A active on B after " << took << " ms\n";
  ASSERT_TRUE(b.Authorize(kAgent, Req(), &d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY) << "B decided with the old bundle";

  b.Stop();
  ASSERT_TRUE(StartReplica(b, "gov-b")) << b.error();  // its file still says allow
  EXPECT_EQ(sha_on(b), resp.policy_sha256());
  ASSERT_TRUE(b.Authorize(kAgent, Req(), &d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
}

// Issue 18: "approvals split across replicas; the same approver twice
// through two replicas counts once", and a requester watching replica A
// gets the TAO that replica B issued when the last approval came through it.
TEST_F(GovernorHaTest, ApprovalsThroughAnyReplicaCompleteADecisionWatchedOnAnother) {
  ASSERT_EQ(Migrate().exit_code, 0);
  GovernorProcess a, b;
  ASSERT_TRUE(a.Start({"--ledger-postgres", conninfo_, "--instance", "gov-a"})) << a.error();
  // B starts with the bundle A seeded (its own file names other approver keys).
  ASSERT_TRUE(b.Start({"--ledger-postgres", conninfo_, "--instance", "gov-b"})) << b.error();

  v1::Decision pending;
  ASSERT_TRUE(a.Authorize(testing::kWriter, testing::WriteRequest(), &pending).ok());
  ASSERT_EQ(pending.outcome(), v1::OUTCOME_PENDING_APPROVAL) << pending.reason();

  grpc::ClientContext wctx;
  v1::GetDecisionRequest g;
  g.set_decision_id(pending.decision_id());
  auto watch = a.Client(testing::kWriter)->WatchDecision(&wctx, g);
  v1::Decision final_seen;
  std::thread watcher([&] {
    v1::Decision d;
    while (watch->Read(&d))
      if (d.outcome() != v1::OUTCOME_PENDING_APPROVAL) {
        final_seen = d;
        return;
      }
  });

  auto submit = [&](GovernorProcess& via, const std::string& approver, v1::Decision* out) {
    auto req = SignApproval(pending, true, a.ApproverKey(approver), testing::NowMs());
    EXPECT_TRUE(req.ok()) << req.status();
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return via.Client(testing::kAdmin)->Approve(&c, *req, out);
  };
  v1::Decision d;
  grpc::Status s = submit(b, testing::kAlice, &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.approvals_given(), 1u);
  // Alice again, through the other replica: counted once.
  s = submit(a, testing::kAlice, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  v1::Decision on_b;
  {
    grpc::ClientContext c;
    ASSERT_TRUE(b.Client(testing::kWriter)->GetDecision(&c, g, &on_b).ok());
  }
  EXPECT_EQ(on_b.outcome(), v1::OUTCOME_PENDING_APPROVAL);
  EXPECT_EQ(on_b.approvals_given(), 1u);

  s = submit(b, testing::kBob, &d);  // the second: B issues
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_TRUE(d.tao().empty()) << "the TAO is shown only to the requester";
  for (int i = 0; i < 100 && final_seen.outcome() == v1::OUTCOME_UNSPECIFIED; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  wctx.TryCancel();
  watcher.join();
  ASSERT_EQ(final_seen.outcome(), v1::OUTCOME_PERMIT) << "the watcher on A never saw B's PERMIT";
  v1::Tao tao;
  ASSERT_TRUE(tao.ParseFromString(final_seen.tao()));
  auto body = b.SoftwareTrustBundle()->VerifyTao(tao, testing::NowMs(), 1000, false);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->actor(), testing::kWriter);
  EXPECT_EQ(final_seen.approvals_given(), 2u);
}

// Issue 18: "rate limits hold across replicas": one bucket per actor in the
// store, so a burst of 3 is 3 whichever replicas the requests go to.
TEST_F(GovernorHaTest, ARateLimitHoldsAcrossReplicas) {
  ASSERT_EQ(Migrate().exit_code, 0);
  std::string limited = kPolicy;
  limited += "rate_limits:\n  actors:\n    - identity: spiffe://test.example/agent\n      rate: 1/h\n      burst: 3\n";
  std::vector<std::unique_ptr<GovernorProcess>> gov;
  for (int i = 0; i < 3; ++i) {
    gov.push_back(std::make_unique<GovernorProcess>());
    taogate::testing::WriteFile(gov.back()->policy_path(), limited);
    ASSERT_TRUE(gov.back()->Start({"--ledger-postgres", conninfo_, "--instance", StrCat("gov-", i)}))
        << gov.back()->error();
  }
  int permitted = 0, exhausted = 0;
  for (int i = 0; i < 9; ++i) {
    v1::Decision d;
    grpc::Status s = gov[static_cast<size_t>(i % 3)]->Authorize(kAgent, Req(), &d);
    if (s.ok() && d.outcome() == v1::OUTCOME_PERMIT) ++permitted;
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
  }
  EXPECT_EQ(permitted, 3) << "each replica kept its own bucket";
  EXPECT_EQ(exhausted, 6);
}

// Issue 18: "break-glass reviews" shared: broken on A, reviewed through B
// once; a second review through A is refused.
TEST_F(GovernorHaTest, ABreakGlassOnOneReplicaIsReviewedOnceThroughAnother) {
  ASSERT_EQ(Migrate().exit_code, 0);
  GovernorProcess a, b;
  ASSERT_TRUE(a.Start({"--ledger-postgres", conninfo_, "--instance", "gov-a"})) << a.error();
  ASSERT_TRUE(b.Start({"--ledger-postgres", conninfo_, "--instance", "gov-b"})) << b.error();
  v1::BreakGlassRequest bg;
  *bg.mutable_binding() = testing::WriteRequest().binding();
  bg.set_cgroup_path("/taogate/test");
  bg.set_action_class("db.write");
  *bg.mutable_target() = testing::WriteRequest().target();
  bg.set_incident_id("INC-42");
  bg.set_justification("orders primary is corrupt, manual fix");
  bg.set_ttl_seconds(120);
  v1::Decision out;
  {
    grpc::ClientContext c;
    grpc::Status s = a.Client(testing::kCarol)->BreakGlass(&c, bg, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(out.review_required());
  v1::ReviewRequest r;
  r.set_decision_id(out.decision_id());
  r.set_verdict("accepted");
  v1::ReviewResponse rr;
  {
    grpc::ClientContext c;
    grpc::Status s = b.Client(testing::kAdmin)->Review(&c, r, &rr);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext c;
    EXPECT_EQ(a.Client(testing::kAdmin)->Review(&c, r, &rr).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  }
  // A, which made it, shows it reviewed.
  v1::GetDecisionRequest g;
  g.set_decision_id(out.decision_id());
  v1::Decision now;
  for (int i = 0; i < 40; ++i) {
    grpc::ClientContext c;
    ASSERT_TRUE(a.Client(testing::kCarol)->GetDecision(&c, g, &now).ok());
    if (!now.review_required()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(now.review_required());
}

// Issue 18 item 5: a client given several replicas fails over. Both replicas
// serve the same certificate (as a Deployment's pods do); the client is
// taogatectl's and the agent's channel (rpc::MakeGovernorChannel).
TEST_F(GovernorHaTest, AClientGivenSeveralReplicasFailsOverWhenOneDies) {
  ASSERT_EQ(Migrate().exit_code, 0);
  GovernorProcess a, b;
  ASSERT_TRUE(StartReplica(a, "gov-a")) << a.error();
  taogate::testing::WriteFile(b.policy_path(), kPolicy);
  ASSERT_TRUE(b.Start({"--ledger-postgres", conninfo_, "--instance", "gov-b", "--tls-ca",
                       (a.dir() / "ca.crt").string(), "--tls-cert", (a.dir() / "server.crt").string(),
                       "--tls-key", (a.dir() / "server.key").string()}))
      << b.error();
  const std::string both = StrCat(a.address(), ",", b.address());
  ASSERT_TRUE(rpc::ValidateGovernorAddress(both).ok());
  EXPECT_FALSE(rpc::ValidateGovernorAddress("governor.example:7443,127.0.0.1:1").ok());
  EXPECT_FALSE(rpc::ValidateGovernorAddress("127.0.0.1:1,[::1]:2").ok());
  auto stub = v1::Governor::NewStub(rpc::MakeGovernorChannel(both, a.TlsFor(kAgent)));
  auto authorize = [&](v1::Decision* d) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub->RequestAuthorization(&c, Req(), d);
  };
  for (int i = 0; i < 4; ++i) {
    v1::Decision d;
    grpc::Status s = authorize(&d);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  }
  ::kill(a.pid(), SIGKILL);
  a.Stop();
  // Calls in flight on the dead replica may fail; the next ones go to B.
  int ok = 0, failed = 0;
  for (int i = 0; i < 10; ++i) {
    v1::Decision d;
    if (authorize(&d).ok() && d.outcome() == v1::OUTCOME_PERMIT) {
      ++ok;
    } else {
      ++failed;
    }
  }
  EXPECT_GE(ok, 8) << failed << " calls failed after the first replica died (only those in flight may)";
  std::cout << "[ha] after a replica died: " << ok << " of 10 calls served by the other, " << failed << " failed\n";
}

}  // namespace
}  // namespace taogate::governance
