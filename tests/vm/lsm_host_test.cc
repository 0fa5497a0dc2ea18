// Host-side kernel test: on a kernel without BPF LSM (this development
// machine refuses trampolines with EPERM), LsmGate::Load must fail and leave
// nothing loaded, and ProbeLsm must say so. On a BPF-LSM kernel it must load
// every core hook without governing anything. No cgroup is governed here,
// so no process is ever affected.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "taogate/bpflsm/lsm_loader.h"

namespace taogate::bpflsm {
namespace {

// Number of loaded BPF LSM programs whose name starts with "tg_".
int CountOurLsmPrograms() {
  int count = 0;
  uint32_t id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_PROG_TYPE_LSM &&
        std::string(info.name).rfind("tg_", 0) == 0) {
      ++count;
    }
    close(fd);
  }
  return count;
}

TEST(LsmHostTest, LoadEitherEnforcesEveryCoreHookOrLeavesNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (bpf())";
  int before = CountOurLsmPrograms();
  auto gate = LsmGate::Load({});
  LsmProbe probe = ProbeLsm();
  if (gate.ok()) {
    EXPECT_TRUE(probe.attach_ok);
    EXPECT_TRUE(probe.bpf_lsm_active) << probe.active_lsms;
    int enforcing = 0;
    for (const auto& h : (*gate)->hooks()) enforcing += h.enforcing;
    EXPECT_GE(enforcing, 6);  // the core hooks
    gate->reset();
  } else {
    EXPECT_FALSE(probe.attach_ok);
    EXPECT_FALSE(probe.detail.empty());
    RecordProperty("refused", std::string(gate.status().message()));
  }
  EXPECT_EQ(CountOurLsmPrograms(), before) << "a failed or destroyed load left programs";
}

}  // namespace
}  // namespace taogate::bpflsm
