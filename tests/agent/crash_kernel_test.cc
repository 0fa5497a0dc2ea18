// SIGKILL the agent at random points while a workload redeems and connects
// in a loop, restart it, and check the invariants on the ledger and the
// kernel: no TAO is consumed or exercised twice, every EXERCISED has a
// CONSUMED before it, no connect got through without a consumed TAO, and the
// ledger verifies offline.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <random>
#include <set>

#include "agent/agent_harness.h"
#include "taogate/ledger/verify.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;

class CrashKernelTest : public AgentTest {};

TEST_F(CrashKernelTest, SigkillDuringRedeemLoopNeverDoubleSpends) {
  uint64_t w1 = MakeWorkload("w1");
  // Enough TAOs that the loop outlives the first kill on an idle machine
  // (a redeem + connect takes 2 to 4 ms here); the workload retries while
  // the agent is down.
  constexpr int kTaos = 300;
  for (int i = 0; i < kTaos; ++i) WriteTao(Mint(w1, protected_->port()));
  StartAgent();

  std::atomic<bool> done{false};
  WorkloadResult result;
  std::thread workload([&] {
    result = RunIn("w1", {"redeem-loop", workload_sock_, dir_->path().string() + "/taos", "127.0.0.1",
                          std::to_string(protected_->port())},
                   120'000);
    done = true;
  });
  std::mt19937 rng(std::random_device{}());
  int kills = 0;
  while (!done && kills < 6) {
    usleep(std::uniform_int_distribution<int>(20'000, kills == 0 ? 120'000 : 250'000)(rng));
    if (done) break;
    KillAgent();
    ++kills;
    usleep(std::uniform_int_distribution<int>(0, 100'000)(rng));
    StartAgent();
    if (HasFatalFailure()) break;
  }
  workload.join();
  StopAgent();
  EXPECT_GE(kills, 1);

  std::map<std::string, uint64_t> consumed;  // tao id -> seq
  std::set<std::string> exercised;
  for (const auto& r : LedgerRecords()) {
    std::string id(r.Field("tao_id").value_or(""));
    if (r.kind == RecordKind::kConsumed) {
      EXPECT_TRUE(consumed.emplace(id, r.seq).second) << "consumed twice: " << id;
    } else if (r.kind == RecordKind::kExercised) {
      EXPECT_TRUE(exercised.insert(id).second) << "exercised twice: " << id;
      auto c = consumed.find(id);
      EXPECT_TRUE(c != consumed.end() && c->second < r.seq) << "EXERCISED without prior CONSUMED: " << id;
    }
  }
  EXPECT_LE(consumed.size(), static_cast<size_t>(kTaos));
  // The kernel side: accepted connects never exceed consumed TAOs.
  EXPECT_LE(static_cast<size_t>(protected_->accepted()), consumed.size());
  size_t ok_connects = 0;
  for (size_t pos = 0; (pos = result.out.find("CONNECT OK", pos)) != std::string::npos; ++pos) ++ok_connects;
  EXPECT_LE(ok_connects, consumed.size()) << result.out;
  EXPECT_GT(consumed.size(), 0u) << result.out;

  RecordProperty("kills", kills);
  RecordProperty("consumed", static_cast<int>(consumed.size()));
  std::cout << "kills=" << kills << " consumed=" << consumed.size() << " exercised=" << exercised.size()
            << " accepted=" << protected_->accepted() << std::endl;
  auto v = ledger::VerifyLedger(ledger_dir_);
  EXPECT_TRUE(v.ok()) << v.status();
}

}  // namespace
}  // namespace taogate::agent::testing
