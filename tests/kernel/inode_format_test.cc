// The cgroup gate's tg_inodes format must equal the BPF LSM's byte for byte
// (layout and bit values), so one key builder (bpflsm::MakeInodeKey) and
// one policy compiler serve both enforcement paths.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstddef>
#include <cstring>

#include <gtest/gtest.h>

#include "lsm_gate.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/bpflsm/lsm_keys.h"

namespace taogate::bpf {
namespace {

static_assert(sizeof(tg_gate_inode_key) == sizeof(tg_inode_key));
static_assert(offsetof(tg_gate_inode_key, dev) == offsetof(tg_inode_key, dev));
static_assert(offsetof(tg_gate_inode_key, ino) == offsetof(tg_inode_key, ino));
static_assert(sizeof(tg_gate_inode_val) == sizeof(tg_inode_value));
static_assert(offsetof(tg_gate_inode_val, deny) == offsetof(tg_inode_value, deny));
static_assert(offsetof(tg_gate_inode_val, flags) == offsetof(tg_inode_value, flags));
static_assert(TG_GATE_DENY_READ == TG_DENY_READ && kDenyRead == TG_DENY_READ);
static_assert(TG_GATE_DENY_WRITE == TG_DENY_WRITE && kDenyWrite == TG_DENY_WRITE);
static_assert(TG_GATE_DENY_EXEC == TG_DENY_EXEC && kDenyExec == TG_DENY_EXEC);
static_assert(TG_GATE_INODE_SUBTREE == TG_INODE_SUBTREE);
static_assert(TG_MAX_DIR_DEPTH == TG_LSM_MAX_DIR_DEPTH);
static_assert(TG_MAX_INODES == TG_LSM_MAX_INODES);

TEST(InodeFormatTest, LsmKeyBuilderProducesTheGateKey) {
  struct stat st {};
  ASSERT_EQ(stat("/", &st), 0);
  auto k = bpflsm::MakeInodeKey("/");
  ASSERT_TRUE(k.ok()) << k.status();
  tg_gate_inode_key g{};
  std::memcpy(&g, &*k, sizeof(g));
  EXPECT_EQ(g.ino, st.st_ino);
  EXPECT_EQ(g.dev, (static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev));
}

}  // namespace
}  // namespace taogate::bpf
