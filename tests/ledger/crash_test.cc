// Crash safety: a child appends (4 threads, fsync on) and is SIGKILLed at
// random moments; every record whose Append returned before the kill must
// survive, and the reopened ledger must verify. Torn writes that a kill
// rarely produces are also forged directly.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "ledger/ledger_testing.h"
#include "taogate/common/fd.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/segment.h"
#include "taogate/ledger/verify.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;

[[noreturn]] void ChildAppendForever(const std::string& dir, int ack_fd) {
  auto l = Ledger::Open(Options(dir));
  if (!l.ok()) _exit(3);
  std::mutex ack_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (;;) {
        uint64_t next = (*l)->Size();
        auto s = (*l)->Append(RecordKind::kConsumed, SampleFields(next));
        if (!s.ok()) _exit(4);
        std::lock_guard g(ack_mu);
        uint64_t seq = *s;
        if (write(ack_fd, &seq, sizeof(seq)) != sizeof(seq)) _exit(5);
      }
    });
  for (auto& t : threads) t.join();
  _exit(0);
}

TEST(CrashTest, KilledAppenderLosesNoAcknowledgedRecord) {
  taogate::testing::TempDir tmp;
  std::string dir = (tmp.path() / "ledger").string();
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  std::vector<uint64_t> acked_all;
  constexpr int kIterations = 40;
  for (int it = 0; it < kIterations; ++it) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      rd.Reset();
      ChildAppendForever(dir, wr.get());
    }
    wr.Reset();
    // Kill at a random moment after the child's first acknowledgement (its
    // start, reopening the growing ledger, can take longer than a fixed
    // delay on a slow disk or under a sanitizer).
    pollfd p{rd.get(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10'000), 1) << "iteration " << it << ": no acknowledgement in 10 s";
    usleep(std::uniform_int_distribution<useconds_t>(0, 20'000)(rng));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    uint64_t seq;
    ssize_t n;
    while ((n = read(rd.get(), &seq, sizeof(seq))) == sizeof(seq)) acked_all.push_back(seq);
    // Reopen (recovering any torn tail); every acknowledged record is there.
    auto l = Ledger::Open(Options(dir));
    ASSERT_TRUE(l.ok()) << "iteration " << it << ": " << l.status();
    for (uint64_t s : acked_all) {
      ASSERT_LT(s, (*l)->Size()) << "iteration " << it;
    }
    if (!acked_all.empty()) {
      uint64_t last = acked_all.back();
      auto r = (*l)->Read(last);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->kind, RecordKind::kConsumed);
    }
  }
  auto v = VerifyLedger(dir);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(acked_all.size(), static_cast<size_t>(kIterations));
  EXPECT_GE(v->records, acked_all.size());
}

// What a power cut can leave after the last fsync: a partial frame, a zeroed
// extension, or garbage. Open truncates it, says so, and appends continue.
TEST(CrashTest, TornTailsAreTruncatedOnOpen) {
  for (const std::string& tail : {std::string("\x40\x00\x00\x00\x12\x34", 6), std::string(4096, '\0'),
                                 std::string("garbage-bytes-without-a-valid-frame")}) {
    taogate::testing::TempDir tmp;
    std::string dir = (tmp.path() / "ledger").string();
    {
      auto l = OpenOrDie(Options(dir));
      AppendSamples(*l, 7);
    }
    std::string seg = SegmentPath(dir);
    uint64_t good = ReadBytes(seg).size();
    WriteBytes(seg, ReadBytes(seg) + tail);
    auto bad = VerifyLedger(dir);
    EXPECT_EQ(BadSeq(bad.status()), 7u);
    auto l = OpenOrDie(Options(dir));
    EXPECT_TRUE(l->recovery().truncated_tail);
    EXPECT_EQ(l->recovery().offset, good);
    EXPECT_EQ(l->recovery().bytes_dropped, tail.size());
    EXPECT_EQ(l->Size(), 7u);
    AppendSamples(*l, 2);
    EXPECT_EQ(l->Read(8)->fields, SampleFields(8));
    ASSERT_TRUE(VerifyLedger(dir).ok());
  }
}

TEST(CrashTest, PartialRecordFromAKilledWriteIsDropped) {
  taogate::testing::TempDir tmp;
  std::string dir = (tmp.path() / "ledger").string();
  {
    auto l = OpenOrDie(Options(dir));
    AppendSamples(*l, 5);
  }
  std::string seg = SegmentPath(dir);
  auto offs = FrameOffsets(seg);
  TruncateFile(seg, offs[4] + 9);  // record 4's header and one payload byte
  auto l = OpenOrDie(Options(dir));
  EXPECT_EQ(l->Size(), 4u);
  EXPECT_EQ(l->recovery().tail_seq, 4u);
}

}  // namespace
}  // namespace taogate::ledger
