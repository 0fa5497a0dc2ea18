// Pinned state across the format 3 upgrade and pods-mode switches: format
// 2 state is migrated with its kill switch and grants intact; a config of
// any other shape is refused without touching it; pods mode switches on
// and off over pinned state.
#include <bpf/bpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "bpf/pods_testing.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

class PodsAdoptTest : public PodsTest {
 protected:
  PodsAdoptTest() { open_in_setup_ = false; }

  // Creates a map and pins it as <pin_root>/maps/<name> (as an older agent
  // left it).
  UniqueFd PinMap(const char* name, bpf_map_type type, uint32_t key, uint32_t value,
                  uint32_t max, uint32_t flags = 0) {
    for (const std::string& d : {pin_root_, pin_root_ + "/maps", pin_root_ + "/links"}) {
      mkdir(d.c_str(), 0700);
    }
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
    UniqueFd fd(bpf_map_create(type, name, key, value, max, &opts));
    EXPECT_TRUE(fd) << strerror(errno);
    EXPECT_EQ(bpf_obj_pin(fd.get(), StrCat(pin_root_, "/maps/", name).c_str()), 0) << strerror(errno);
    return fd;
  }

  // A format 2 tg_config (48 bytes) for root_.
  UniqueFd PinFormat2Config(uint32_t quarantine_all) {
    UniqueFd fd = PinMap("tg_config", BPF_MAP_TYPE_ARRAY, 4, TG_FORMAT2_CONFIG_SIZE, 1);
    tg_config c{};
    c.format = 2;
    c.governed_root_id = IdOf(root_.path());
    c.governed_level = *CgroupLevel(root_.path());
    c.quarantine_all = quarantine_all;
    uint32_t zero = 0;
    EXPECT_EQ(bpf_map_update_elem(fd.get(), &zero, &c, BPF_ANY), 0) << strerror(errno);
    return fd;
  }

  uint32_t PinnedConfigSize() {
    UniqueFd fd(bpf_obj_get(StrCat(pin_root_, "/maps/tg_config").c_str()));
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (!fd || bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return 0;
    return info.value_size;
  }
};

TEST_F(PodsAdoptTest, Format2StateIsMigratedWithKillSwitchAndGrants) {
  PinFormat2Config(TG_QUARANTINE_NET);
  // A grant for workload a_, in the unchanged tg_grants layout.
  UniqueFd grants = PinMap("tg_grants", BPF_MAP_TYPE_HASH, sizeof(tg_grant_key),
                           sizeof(tg_grant_val), 65536, BPF_F_NO_PREALLOC);
  tg_grant_key k{};
  k.cgroup_id = IdOf(a_.path());
  k.proto = 6;
  k.family = AF_INET;
  k.port = prot_.port;
  const uint8_t lo[4] = {127, 0, 0, 1};
  std::memcpy(k.addr, lo, 4);
  tg_grant_val v{};
  v.expiry_ns = MonoNowNs() + 10'000'000'000ull;
  ASSERT_EQ(bpf_map_update_elem(grants.get(), &k, &v, BPF_NOEXIST), 0);

  gate_ = OpenPodsGate();
  ASSERT_NE(gate_, nullptr);
  EXPECT_TRUE(gate_->adopted());
  EXPECT_EQ(PinnedConfigSize(), sizeof(tg_config));
  EXPECT_TRUE(*gate_->QuarantineAllEngaged());
  EXPECT_EQ(ConnectOpen(a_.path()), EPERM);  // the kill switch came along
  ASSERT_TRUE(gate_->ReleaseAll().ok());
  Protect(StrCat("tcp:127.0.0.1:", prot_.port));
  EXPECT_EQ(Connect(a_.path()), 0);  // so did the grant
  EXPECT_EQ(Connect(a_.path()), EPERM);
  // A second open adopts the migrated state as format 3.
  gate_.reset();
  gate_ = OpenPodsGate();
  ASSERT_NE(gate_, nullptr);
  EXPECT_TRUE(gate_->adopted());
  EXPECT_EQ(Connect(a_.path()), EPERM);
}

TEST_F(PodsAdoptTest, ConfigOfAnotherSizeIsRefusedUntouched) {
  UniqueFd fd = PinMap("tg_config", BPF_MAP_TYPE_ARRAY, 4, 40, 1);
  auto g = Gate::OpenOrAdopt(Options());
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(g.status().message().find("detach"), std::string::npos) << g.status();
  EXPECT_EQ(PinnedConfigSize(), 40u);
}

TEST_F(PodsAdoptTest, UnknownFormatOfTheCurrentSizeIsRefused) {
  UniqueFd fd = PinMap("tg_config", BPF_MAP_TYPE_ARRAY, 4, sizeof(tg_config), 1);
  tg_config c{};
  c.format = TG_FORMAT_VERSION + 1;
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(fd.get(), &zero, &c, BPF_ANY), 0);
  EXPECT_EQ(Gate::OpenOrAdopt(Options()).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PodsAdoptTest, Format2WithWrongSizeIsRefused) {
  UniqueFd fd = PinMap("tg_config", BPF_MAP_TYPE_ARRAY, 4, TG_FORMAT2_CONFIG_SIZE, 1);
  tg_config c{};
  c.format = 1;  // 48 bytes but not format 2
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(fd.get(), &zero, &c, BPF_ANY), 0);
  EXPECT_EQ(Gate::OpenOrAdopt(Options()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PinnedConfigSize(), TG_FORMAT2_CONFIG_SIZE);
}

TEST_F(PodsAdoptTest, Format2ConfigLeftUnwrittenIsMigrated) {
  UniqueFd fd = PinMap("tg_config", BPF_MAP_TYPE_ARRAY, 4, TG_FORMAT2_CONFIG_SIZE, 1);  // format 0
  gate_ = OpenPodsGate();
  ASSERT_NE(gate_, nullptr);
  EXPECT_EQ(PinnedConfigSize(), sizeof(tg_config));
  EXPECT_EQ(Connect(a_.path()), 0);  // nothing protected yet
}

TEST_F(PodsAdoptTest, PodsModeSwitchesOnAndOffOverPinnedState) {
  gate_ = OpenPodsGate(true);
  ASSERT_NE(gate_, nullptr);
  Protect(StrCat("tcp:127.0.0.1:", prot_.port));
  Pod p = MakePod({Driver::kSystemd, Qos::kGuaranteed});
  Mark(p.cgroup, WorkloadKind::kUngoverned);
  EXPECT_EQ(Connect(p.containers[0]), 0);
  gate_.reset();
  gate_ = OpenPodsGate(false);  // governed-root mode: every child governed
  ASSERT_NE(gate_, nullptr);
  EXPECT_TRUE(gate_->adopted());
  EXPECT_FALSE(gate_->pods());
  EXPECT_EQ(Connect(p.containers[0]), EPERM);
  EXPECT_EQ(gate_->Workloads()->size(), 1u);  // kept, unread
  gate_.reset();
  gate_ = OpenPodsGate(true);
  ASSERT_NE(gate_, nullptr);
  EXPECT_EQ(Connect(p.containers[0]), 0);
}

}  // namespace
}  // namespace taogate::bpf::testing
