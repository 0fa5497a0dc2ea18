// A full disk: Append fails with ResourceExhausted, the ledger stays valid,
// and appends succeed again once space is freed. Uses a private tiny tmpfs.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include "ledger/ledger_testing.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/verify.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
    mnt_ = (tmp_.path() / "mnt").string();
    std::filesystem::create_directories(mnt_);
    ASSERT_EQ(mount("tmpfs", mnt_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=192k"), 0) << strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(mnt_.c_str(), MNT_DETACH);
  }
  taogate::testing::TempDir tmp_;
  std::string mnt_;
  bool mounted_ = false;
};

TEST_F(DiskFullTest, AppendFailsCleanlyAndTheLedgerStaysValid) {
  std::string dir = mnt_ + "/ledger";
  auto o = Options(dir);
  auto l = OpenOrDie(o);
  ASSERT_NE(l, nullptr);
  absl::Status err;
  uint64_t acked = 0;
  for (int i = 0; i < 100000; ++i) {
    auto s = l->Append(RecordKind::kDenied, SampleFields(static_cast<uint64_t>(i)));
    if (!s.ok()) {
      err = s.status();
      break;
    }
    acked = *s + 1;
  }
  ASSERT_EQ(err.code(), absl::StatusCode::kResourceExhausted) << err;
  EXPECT_EQ(l->Size(), acked);
  // Still full: fails again, still valid.
  EXPECT_FALSE(l->Append(RecordKind::kDenied, SampleFields(0)).ok());
  auto v = VerifyLedger(dir);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->records, acked);
  // Make room (grow the tmpfs): the same Ledger object appends again.
  ASSERT_EQ(mount("tmpfs", mnt_.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, "size=512k"), 0);
  auto s = l->Append(RecordKind::kDenied, SampleFields(acked));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, acked);
  EXPECT_EQ(l->Read(acked)->fields, SampleFields(acked));
  l.reset();
  v = VerifyLedger(dir);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->records, acked + 1);
}

}  // namespace
}  // namespace taogate::ledger
