// tg_inodes is one format for both enforcement paths (gate_format.h): the
// cgroup gate's kill-on-open fallback and the BPF LSM. Its layout is what the
// kernel reads, so it is pinned here byte by byte, and the one key builder
// (bpflsm::MakeInodeKey) must produce the kernel's s_dev encoding.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstddef>

#include <gtest/gtest.h>

#include "taogate/bpf/gate_format.h"
#include "taogate/bpflsm/lsm_keys.h"

namespace taogate::bpf {
namespace {

static_assert(offsetof(tg_inode_key, dev) == 0 && offsetof(tg_inode_key, ino) == 8);
static_assert(offsetof(tg_inode_val, deny) == 0 && offsetof(tg_inode_val, flags) == 4);
static_assert(TG_DENY_READ == 0x1 && TG_DENY_WRITE == 0x2 && TG_DENY_EXEC == 0x4);
static_assert(TG_INODE_SUBTREE == 0x1);
static_assert(offsetof(tg_lsm_event, ino) == 16 && offsetof(tg_lsm_event, hook) == 32);

TEST(InodeFormatTest, KeyBuilderProducesTheKernelDevEncoding) {
  struct stat st {};
  ASSERT_EQ(stat("/", &st), 0);
  auto k = bpflsm::MakeInodeKey("/");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->ino, st.st_ino);
  EXPECT_EQ(k->dev, (static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev));
}

}  // namespace
}  // namespace taogate::bpf
