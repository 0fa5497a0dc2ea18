// Group commit on a slow disk: the ledger's fdatasync is replaced by one that
// takes 250 us (LedgerOptions::datasync), so batching is measured without a
// slow device. Each sync publishes the file size it covered only when it
// returns; an append that returns before that size covers its record would
// acknowledge a record that a crash could still lose.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "ledger/ledger_testing.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/verify.h"
#include "testing/sanitizer.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;
using std::chrono::microseconds;

// A disk whose fdatasync takes `delay` and covers what the file held when it
// started (no real fdatasync: the test's own disk may be slower than 250 us).
struct SlowDisk {
  microseconds delay{250};
  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> synced_bytes{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> overlapped{false};

  int Sync(int fd) {
    if (in_flight++ != 0) overlapped = true;
    auto start = std::chrono::steady_clock::now();
    struct stat st {};
    int rc = ::fstat(fd, &st);
    std::this_thread::sleep_until(start + delay);
    uint64_t covered = static_cast<uint64_t>(st.st_size), seen = synced_bytes.load();
    while (seen < covered && !synced_bytes.compare_exchange_weak(seen, covered)) {
    }
    ++syncs;
    --in_flight;
    return rc;
  }
};

struct Acked {
  uint64_t seq;
  uint64_t synced_bytes;  // what the disk had synced when Append returned
};

// `threads` appenders, `each` appends apiece, on a ledger over `disk`.
std::vector<Acked> Hammer(const std::string& dir, SlowDisk& disk, int threads, int each) {
  auto o = Options(dir);
  o.datasync = [&disk](int fd) { return disk.Sync(fd); };
  auto l = OpenOrDie(o);
  std::vector<std::vector<Acked>> got(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        auto s = l->Append(RecordKind::kConsumed, SampleFields(static_cast<uint64_t>(t * each + i)));
        ASSERT_TRUE(s.ok()) << s.status();
        got[static_cast<size_t>(t)].push_back({*s, disk.synced_bytes.load()});
      }
    });
  for (auto& th : ts) th.join();
  std::vector<Acked> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  return all;
}

class GroupCommitTest : public ::testing::Test {
 protected:
  taogate::testing::TempDir tmp_;
  std::string dir_ = (tmp_.path() / "ledger").string();
};

// Under AddressSanitizer (a -O0 build sharing two cores with another test)
// an append's own CPU time approaches 250 us, so the appenders cannot queue
// again within one sync; a slower disk measures the same property there.
TEST_F(GroupCommitTest, SixteenAppendersShareEachSlowSync) {
  SlowDisk disk;
  if (taogate::testing::kUnderAsan) disk.delay = microseconds(2'000);
  auto acked = Hammer(dir_, disk, 16, 150);
  ASSERT_EQ(acked.size(), 2400u);
  double per_sync = 2400.0 / static_cast<double>(disk.syncs.load());
  EXPECT_GE(per_sync, 12.0) << disk.syncs.load() << " syncs";
  std::printf("16 appenders, %lld us sync: %.1f appends per sync\n", static_cast<long long>(disk.delay.count()),
              per_sync);
  EXPECT_FALSE(disk.overlapped) << "two fdatasyncs in flight at once";
  auto v = VerifyLedger(dir_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->records, 2400u);
}

TEST_F(GroupCommitTest, NoAppendReturnsBeforeTheSyncThatCoversIt) {
  SlowDisk disk;
  auto acked = Hammer(dir_, disk, 16, 100);
  std::string seg = SegmentPath(dir_);
  std::vector<uint64_t> off = FrameOffsets(seg);
  off.push_back(ReadBytes(seg).size());  // end of the last frame
  ASSERT_EQ(off.size(), acked.size() + 1);
  for (const Acked& a : acked)
    ASSERT_LE(off[a.seq + 1], a.synced_bytes) << "seq " << a.seq << " acknowledged before its sync returned";
}

TEST_F(GroupCommitTest, OneAppenderDoesNotWaitForOthers) {
  SlowDisk disk;
  auto t0 = std::chrono::steady_clock::now();
  auto acked = Hammer(dir_, disk, 1, 200);
  auto per_append = (std::chrono::steady_clock::now() - t0) / 200;
  EXPECT_EQ(disk.syncs.load(), 200u);
  // One sync each, no gathering on top (loose: the machine is shared).
  EXPECT_LT(per_append, disk.delay * 4);
}

}  // namespace
}  // namespace taogate::ledger
