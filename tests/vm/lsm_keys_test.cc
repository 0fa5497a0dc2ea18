// Host-side unit tests of the inode and cgroup key builders (lsm_keys.h): the
// bytes user space writes must be the bytes the BPF programs build.
#include "taogate/bpflsm/lsm_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "testing/testing.h"

namespace taogate::bpflsm {
namespace {

TEST(LsmKeysTest, KernelDevIsMajorShift20) {
  EXPECT_EQ(KernelDev(makedev(8, 1)), (8ull << 20) | 1);
  EXPECT_EQ(KernelDev(makedev(259, 300)), (259ull << 20) | 300);
  EXPECT_EQ(KernelDev(makedev(0, 44)), 44u);
}

TEST(LsmKeysTest, InodeKeyFollowsHardLinks) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "db", "x");
  ASSERT_EQ(link((dir.path() / "db").c_str(), (dir.path() / "alias").c_str()), 0);
  auto a = MakeInodeKey((dir.path() / "db").string());
  auto b = MakeInodeKey((dir.path() / "alias").string());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ino, b->ino);
  EXPECT_EQ(a->dev, b->dev);
  EXPECT_EQ(MakeInodeKey((dir.path() / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LsmKeysTest, CgroupLevelCountsPathComponents) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "a/b");
  auto ref = ResolveCgroup(dir.path().string(), (dir.path() / "a/b/").string());
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->level, 2u);
  struct stat st;
  ASSERT_EQ(stat((dir.path() / "a/b").c_str(), &st), 0);
  EXPECT_EQ(ref->id, st.st_ino);
  EXPECT_EQ(ResolveCgroup((dir.path() / "a").string(), (dir.path() / "ab").string()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace taogate::bpflsm
