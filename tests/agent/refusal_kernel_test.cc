// Refusal floods against a real agent: its ledger on a private 96 MiB tmpfs,
// an unprivileged uid (nobody) flooding the real world-accessible workload
// socket for a few seconds. The ledger must grow by a bounded number of
// records whose counts account for every refusal, and a governed workload's
// legitimate redeem must still succeed; with the ledger's filesystem below
// the reserve no refusal record is written, below the floor a redeem fails
// closed (LEDGER_UNAVAILABLE) before the disk is full. Base aff5f78 wrote one
// record per refusal and had no reserve.
#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "agent/agent_harness.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;
constexpr uid_t kNobody = 65534;
constexpr int kFloodMs = 3'000;

class RefusalKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // nobody must reach the socket (0666) through the test's private dir.
    ASSERT_EQ(chmod(dir_->path().c_str(), 0711), 0);
    mkdir(ledger_dir_.c_str(), 0700);
    ASSERT_EQ(mount("tmpfs", ledger_dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=96m"), 0) << strerror(errno);
    mounted_ = true;
    w1_ = MakeWorkload("w1");
    StartAgent();
  }
  void TearDown() override {
    AgentTest::TearDown();  // the agent first: it holds the ledger open
    if (mounted_) umount2(ledger_dir_.c_str(), MNT_DETACH);
  }

  // Runs the test workload as nobody, outside the governed subtree.
  std::string RunAsNobody(std::vector<std::string> args) {
    int out[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(126);
      std::string bin = WorkloadBin();
      std::vector<char*> argv{bin.data()};
      for (auto& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string got;
    char buf[256];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof(buf))) > 0) got.append(buf, n);
    close(out[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return got;
  }
  static uint64_t After(const std::string& out, const std::string& key) {
    auto p = out.find(key);
    return p == std::string::npos ? 0 : std::stoull(out.substr(p + key.size()));
  }
  // Refusals the REJECTED records account for (own records + summary counts).
  uint64_t Accounted(uint64_t from_seq) const {
    uint64_t n = 0;
    for (const auto& r : LedgerRecords()) {
      if (r.seq < from_seq || r.kind != RecordKind::kRejected) continue;
      auto ev = r.Field("event");
      n += ev && ev->rfind("refusal_", 0) == 0 ? std::stoull(std::string(*r.Field("count"))) : 1;
    }
    return n;
  }
  size_t RejectedSince(uint64_t from_seq) const {
    size_t n = 0;
    for (const auto& r : LedgerRecords()) n += r.seq >= from_seq && r.kind == RecordKind::kRejected;
    return n;
  }
  uint64_t NextSeq() const { return LedgerRecords().size(); }
  // Leaves `left` bytes free on the ledger's tmpfs.
  void FillLeaving(uint64_t left) {
    struct statvfs v {};
    ASSERT_EQ(statvfs(ledger_dir_.c_str(), &v), 0);
    uint64_t free = uint64_t{v.f_bavail} * v.f_frsize;
    ASSERT_GT(free, left);
    int fd = open((ledger_dir_ + "/filler." + std::to_string(fillers_++)).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fallocate(fd, 0, 0, static_cast<off_t>(free - left)), 0) << strerror(errno);
    close(fd);
  }
  std::string RedeemFromW1() {
    return RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Mint(w1_, protected_->port())), "127.0.0.1",
                        std::to_string(protected_->port())}).out;
  }

  uint64_t w1_ = 0;
  bool mounted_ = false;
  int fillers_ = 0;
};

TEST_F(RefusalKernelTest, UnprivilegedRedeemFloodAddsBoundedRecordsAndRedeemStillWorks) {
  const uint64_t from = NextSeq();
  auto t0 = std::chrono::steady_clock::now();
  std::string out = RunAsNobody({"redeem-flood", workload_sock_, std::to_string(kFloodMs)});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t calls = After(out, "CALLS=");
  ASSERT_GT(calls, 100u) << out;
  // Summaries are written every refusal_flush_ms (1 s): wait for the last.
  for (int i = 0; i < 40 && Accounted(from) < calls; ++i) usleep(100'000);
  const size_t records = RejectedSince(from);
  std::printf("redeem flood: %llu calls in %.1f s (%llu rate-limited), %zu ledger records (%.1f records/s)\n",
              static_cast<unsigned long long>(calls), secs,
              static_cast<unsigned long long>(After(out, "RATE_LIMITED=")), records, records / secs);
  // Own records: MALFORMED and RATE_LIMITED once; summaries: at most one
  // per reason per 1 s interval (3 s of flood + the partial ends).
  EXPECT_LE(records, 2u + 2u * 6u);
  EXPECT_EQ(Accounted(from), calls) << "every refusal counted";
  EXPECT_NE(RedeemFromW1().find("CONNECT OK"), std::string::npos);
}

TEST_F(RefusalKernelTest, UnprivilegedOperatorCallFloodAddsBoundedRecords) {
  const uint64_t from = NextSeq();
  std::string out = RunAsNobody({"status-flood", workload_sock_, std::to_string(kFloodMs)});
  const uint64_t calls = After(out, "CALLS=");
  ASSERT_GT(calls, 100u) << out;
  for (int i = 0; i < 40 && Accounted(from) < calls; ++i) usleep(100'000);
  std::printf("operator-call flood: %llu calls, %zu ledger records\n", static_cast<unsigned long long>(calls),
              RejectedSince(from));
  EXPECT_LE(RejectedSince(from), 1u + 6u);
  EXPECT_EQ(Accounted(from), calls);
  EXPECT_FALSE(Find(RecordKind::kRejected, "reason_code", "OPERATOR_ONLY").empty());
}

// Reserve 64 MiB, floor 4 MiB (the defaults).
TEST_F(RefusalKernelTest, BelowReserveRefusalsStopButRedeemWorksBelowFloorRedeemFailsClosed) {
  FillLeaving(32ull << 20);
  const uint64_t from = NextSeq();
  RunAsNobody({"redeem-flood", workload_sock_, "1000"});
  usleep(1'500'000);
  EXPECT_EQ(RejectedSince(from), 0u) << "no refusal record below the reserve";
  EXPECT_NE(RedeemFromW1().find("CONNECT OK"), std::string::npos);

  FillLeaving(2ull << 20);
  v1::TaoBody b = Body(w1_, protected_->port());
  std::string tao = WriteTao(Sign(b));
  auto r = RunIn("w1", {"redeem", workload_sock_, tao});
  EXPECT_TRUE(r.Has("REDEEM ERR LEDGER_UNAVAILABLE")) << r.out;
  EXPECT_TRUE(RunIn("w1", {"connect", "127.0.0.1", std::to_string(protected_->port())}).Has("CONNECT ERR EPERM"));
  // Room again: the same TAO was never spent.
  for (int i = 0; i < fillers_; ++i) unlink((ledger_dir_ + "/filler." + std::to_string(i)).c_str());
  EXPECT_TRUE(RunIn("w1", {"redeem", workload_sock_, tao}).Has("REDEEM OK")) << "TAO spent by a refusal";
}

}  // namespace
}  // namespace taogate::agent::testing
