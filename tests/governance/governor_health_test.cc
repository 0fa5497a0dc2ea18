// The governor's /healthz names a broken ledger: its directory on a real
// tmpfs filled below the free-space floor, answers 503 "ledger: ... disk
// full" and 200 again once space is freed. Root (mount), no BPF.
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "governance/governor_testing.h"

namespace taogate::governance::testing {
namespace {

class GovernorHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
    std::filesystem::create_directories(gov_.ledger_dir());
    ASSERT_EQ(mount("tmpfs", gov_.ledger_dir().c_str(), "tmpfs", 0, "size=16m"), 0) << strerror(errno);
    mounted_ = true;
    ASSERT_TRUE(gov_.Start()) << gov_.error();
  }
  void TearDown() override {
    gov_.Stop();
    if (mounted_) umount2(gov_.ledger_dir().c_str(), MNT_DETACH);
  }
  std::string Health() { return HttpGet(gov_.MetricsPort(), "/healthz"); }

  GovernorProcess gov_;
  bool mounted_ = false;
};

TEST_F(GovernorHealthTest, DiskFullIs503UntilSpaceIsFreed) {
  EXPECT_NE(Health().find("200 OK"), std::string::npos) << Health();
  EXPECT_NE(Health().find("ledger: ok"), std::string::npos) << Health();
  const std::string filler = gov_.ledger_dir() + "/filler";
  std::ofstream(filler) << std::string(12 << 20, 'x');  // leaves < 8 MiB of 16
  std::string h = Health();
  EXPECT_NE(h.find("503"), std::string::npos) << h;
  EXPECT_NE(h.find("ledger: "), std::string::npos) << h;
  EXPECT_NE(h.find("disk full"), std::string::npos) << h;
  EXPECT_NE(h.find("tpm: ok"), std::string::npos) << h;  // the other checks still reported
  EXPECT_NE(HttpGet(gov_.MetricsPort(), "/metrics").find("taogate_governor_healthy 0\n"), std::string::npos);
  std::filesystem::remove(filler);
  EXPECT_NE(Health().find("200 OK"), std::string::npos) << Health();
  EXPECT_NE(HttpGet(gov_.MetricsPort(), "/metrics").find("taogate_governor_healthy 1\n"), std::string::npos);
}

}  // namespace
}  // namespace taogate::governance::testing
