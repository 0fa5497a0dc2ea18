// GateNodeControl::LedgerRead (the operator socket's LedgerRead, polled by
// `taogatectl ledger follow`) over a real node ledger in a temp dir: pages
// in seq order with the hash chain, bounded by max, OUT_OF_RANGE past the end.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fcntl.h>
#include <sstream>
#include <thread>

#include "kernel_fakes.h"
#include "redeem_fakes.h"
#include "taogate/agent/node_control.h"
#include "taogate/agent/service.h"
#include "taogate/agent/unix_server.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"
#include "testing/manual_clock.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

class LedgerReadTest : public ::testing::Test {
 protected:
  LedgerReadTest() : gate_(log_) {
    config_.node_id = "n1";
    config_.cgroup2_mount = dir_.path().string();
    ledger::LedgerOptions lo;
    lo.dir = (dir_.path() / "ledger").string();
    lo.fsync = false;
    ledger_ = std::move(*ledger::Ledger::Open(lo));
    redeemer_ = std::make_unique<Redeemer>(RedeemConfig{}, verifier_, evidence_, grants_, clock_);
    control_ = std::make_unique<GateNodeControl>(config_, gate_, *ledger_, evidence_, metrics_, *redeemer_);
  }
  void Append(int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(ledger_->Append(ledger::RecordKind::kExercised, {{"target", "tcp:10.0.0.5:5432"}}).ok());
  }

  taogate::testing::TempDir dir_;
  fakes::CallLog log_;
  fakes::LoggingKillSwitchGate gate_;
  fakes::MemoryEvidence evidence_;
  fakes::FunctionVerifier verifier_{[](const v1::Tao&, int64_t) { return absl::OkStatus(); }};
  fakes::MemoryGrants grants_;
  testing::ManualClock clock_{0};
  Metrics metrics_;
  AgentConfig config_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<Redeemer> redeemer_;
  std::unique_ptr<GateNodeControl> control_;
};

TEST_F(LedgerReadTest, PagesFollowEachOtherWithoutGapOrRepeat) {
  Append(7);
  const uint64_t size = ledger_->Size();
  std::vector<v1::LedgerRecord> seen;
  for (uint64_t from = 0; from < size;) {
    auto page = control_->LedgerRead(from, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->size(), size);
    ASSERT_LE(page->records_size(), 3);
    ASSERT_GT(page->records_size(), 0);
    for (const auto& r : page->records()) seen.push_back(r);
    from = seen.back().seq() + 1;
  }
  ASSERT_EQ(seen.size(), size);
  for (uint64_t i = 0; i < size; ++i) {
    auto r = ledger_->Read(i);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(seen[i].seq(), i);
    EXPECT_EQ(seen[i].hash_hex(), ToHex(r->hash));
    EXPECT_EQ(seen[i].prev_hash_hex(), ToHex(r->prev_hash));
    if (i > 0) {
      EXPECT_EQ(seen[i].prev_hash_hex(), seen[i - 1].hash_hex());
    }
  }
  EXPECT_EQ(seen.back().kind(), "EXERCISED");
  EXPECT_EQ(seen.back().fields().at("target"), "tcp:10.0.0.5:5432");
}

TEST_F(LedgerReadTest, AtTheEndIsEmptyAndAppendsAppear) {
  const uint64_t end = ledger_->Size();
  auto page = control_->LedgerRead(end, 1000);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->records_size(), 0);
  Append(2);
  page = control_->LedgerRead(end, 1000);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->records_size(), 2);
  EXPECT_EQ(page->records(0).seq(), end);
}

TEST_F(LedgerReadTest, PastTheEndIsOutOfRange) {
  auto page = control_->LedgerRead(ledger_->Size() + 1, 10);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(page.status().message().find("past the node ledger's end"), std::string_view::npos);
}

TEST_F(LedgerReadTest, TailIsTheLastPage) {
  Append(5);
  auto tail = control_->LedgerTail(2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->records_size(), 2);
  EXPECT_EQ(tail->records(1).seq(), ledger_->Size() - 1);
}

// The operator socket served for real (a unix socket, the caller's uid as
// the operator), `taogatectl ledger follow --socket` reading it, and the
// server restarted mid-follow: every record printed once, in order.
TEST_F(LedgerReadTest, FollowOverTheOperatorSocketSurvivesARestart) {
  ServiceOptions so;
  so.operator_socket = true;
  so.operator_uids = {getuid()};
  so.cgroup2_mount = "/sys/fs/cgroup";
  AgentServiceImpl service(so, *redeemer_, *control_);
  const std::string sock = (dir_.path() / "operator.sock").string();
  auto serve = [&] { return UnixGrpcServer::Start(UnixServerOptions{.path = sock}, {&service}); };
  auto server = serve();
  ASSERT_TRUE(server.ok()) << server.status();
  Append(3);
  const auto out = dir_.path() / "follow.jsonl";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    std::string bin = taogate::testing::BinPath("taogatectl");
    execl(bin.c_str(), bin.c_str(), "ledger", "follow", "--socket", sock.c_str(), "--from-seq", "0", "--poll-ms",
          "20", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto lines = [&](size_t n) {
    std::vector<std::string> got;
    for (int i = 0; i < 200; ++i) {
      got.clear();
      std::istringstream in(taogate::testing::ReadFile(out));
      for (std::string l; std::getline(in, l);) got.push_back(l);
      if (got.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return got;
  };
  EXPECT_EQ(lines(ledger_->Size()).size(), ledger_->Size());
  server->reset();  // the agent goes away...
  Append(2);        // ...its ledger grows meanwhile...
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server = serve();  // ...and it comes back
  ASSERT_TRUE(server.ok()) << server.status();
  Append(1);
  auto got = lines(ledger_->Size());
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  got = lines(ledger_->Size());
  ASSERT_EQ(got.size(), ledger_->Size());
  for (uint64_t i = 0; i < got.size(); ++i) {
    auto r = ledger_->Read(i);
    ASSERT_TRUE(r.ok());
    EXPECT_NE(got[i].find(StrCat("{\"seq\":", i, ",")), std::string::npos) << got[i];
    EXPECT_NE(got[i].find(ledger::Base64Encode(r->hash)), std::string::npos) << got[i];
  }
}

}  // namespace
}  // namespace taogate::agent
