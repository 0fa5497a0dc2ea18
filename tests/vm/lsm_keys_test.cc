// Host-side unit tests of the BPF LSM map-key builders (lsm_keys.h): the
// bytes user space writes must be the bytes lsm_gate.bpf.c builds.
#include "taogate/bpflsm/lsm_keys.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>

#include "testing/testing.h"

namespace taogate::bpflsm {
namespace {

TEST(LsmKeysTest, Ipv4IsStoredV4Mapped) {
  auto k = MakeInetTarget(TG_PROTO_TCP, "10.1.2.3", 5432);
  ASSERT_TRUE(k.ok()) << k.status();
  const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(std::memcmp(k->addr, want, 16), 0);
  EXPECT_EQ(k->port, 5432);
  EXPECT_EQ(k->proto, TG_PROTO_TCP);
  EXPECT_EQ(k->pad0, 0);
}

TEST(LsmKeysTest, V4MappedIpv6EqualsIpv4Key) {
  auto a = MakeInetTarget(TG_PROTO_TCP, "127.0.0.1", 80);
  auto b = MakeInetTarget(TG_PROTO_TCP, "::ffff:127.0.0.1", 80);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(std::memcmp(&*a, &*b, sizeof(*a)), 0);
}

TEST(LsmKeysTest, RejectsNamesAndBadProtocols) {
  EXPECT_EQ(MakeInetTarget(TG_PROTO_TCP, "db.internal", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeInetTarget(TG_PROTO_UNIX, "10.0.0.1", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LsmKeysTest, GrantNeedsCgroupAndExactPort) {
  auto t = MakeInetTarget(TG_PROTO_UDP, "::1", 0);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(MakeGrantKey(7, *t).ok());  // port 0 is a wildcard, never a grant
  t->port = 53;
  EXPECT_FALSE(MakeGrantKey(0, *t).ok());
  auto g = MakeGrantKey(7, *t);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->cgroup_id, 7u);
  EXPECT_EQ(g->family, TG_AF_INET6);
  EXPECT_EQ(g->pad, 0u);
  EXPECT_EQ(std::memcmp(g->addr, t->addr, 16), 0);
}

// The cgroup gate's encoding (gate_format.h tg_grant_key): IPv4 and
// v4-mapped IPv6 are family AF_INET with the address in addr[0..3].
TEST(LsmKeysTest, GrantKeyUsesTheGateEncodingForIpv4) {
  auto v4 = MakeGrantKey(9, *MakeInetTarget(TG_PROTO_TCP, "10.1.2.3", 5432));
  auto mapped = MakeGrantKey(9, *MakeInetTarget(TG_PROTO_TCP, "::ffff:10.1.2.3", 5432));
  ASSERT_TRUE(v4.ok() && mapped.ok());
  const uint8_t want[16] = {10, 1, 2, 3};
  EXPECT_EQ(v4->family, TG_AF_INET);
  EXPECT_EQ(std::memcmp(v4->addr, want, 16), 0);
  EXPECT_EQ(std::memcmp(&*v4, &*mapped, sizeof(*v4)), 0);
  EXPECT_EQ(offsetof(bpf::tg_lsm_grant_key, family), 9u);
  EXPECT_EQ(offsetof(bpf::tg_lsm_grant_key, port), 10u);
  EXPECT_EQ(offsetof(bpf::tg_lsm_grant_key, addr), 16u);
  EXPECT_EQ(offsetof(bpf::tg_lsm_grant_val, expiry_ns), 16u);
  EXPECT_EQ(offsetof(bpf::tg_lsm_grant_val, state), 24u);
}

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

TEST(LsmKeysTest, UnixTargetIsTheSocketInode) {
  testing::TempDir dir;
  std::string path = (dir.path() / "s.sock").string();
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
  auto k = MakeUnixTarget(path);
  close(fd);
  ASSERT_TRUE(k.ok()) << k.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  uint64_t ino;
  std::memcpy(&ino, &k->addr[8], 8);
  EXPECT_EQ(ino, st.st_ino);
  EXPECT_EQ(k->proto, TG_PROTO_UNIX);
  testing::WriteFile(dir.path() / "plain", "x");
  EXPECT_EQ(MakeUnixTarget((dir.path() / "plain").string()).status().code(),
            absl::StatusCode::kInvalidArgument);
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
