// Informational, not a test: per-run cost of tg_file_open on the ungoverned
// fast path and on the governed path, from the kernel's BPF run-time stats
// (BPF_ENABLE_STATS). Printed as TAOGATE-VM-INFO; under TCG the absolute
// numbers are far above real hardware, the ratio is what matters.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "vm_util.h"

namespace taogate::vmtest {
namespace {

struct Stat {
  uint64_t run_ns = 0, runs = 0;
};

Stat ProgStat(const char* name) {
  Stat s;
  uint32_t id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::strcmp(info.name, name) == 0) {
      s.run_ns += info.run_time_ns;
      s.runs += info.run_cnt;
    }
    close(fd);
  }
  return s;
}

std::string PerRun(const Stat& a, const Stat& b) {
  uint64_t runs = b.runs - a.runs;
  return runs ? std::to_string((b.run_ns - a.run_ns) / runs) + "ns/run(" + std::to_string(runs) + ")"
              : "n/a";
}

}  // namespace

void RunCostInfo(Env& env) {
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) return Info("hook_cost unavailable: BPF_ENABLE_STATS failed");
  const std::string path = env.tmp + "/plain.txt";
  auto opens = [path] {
    for (int i = 0; i < 5000; ++i) {
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) close(fd);
    }
    return 0;
  };
  Stat s0 = ProgStat("tg_file_open");
  RunIn(env.ungov, opens);
  Stat s1 = ProgStat("tg_file_open");
  RunIn(env.gov_a, opens);
  Stat s2 = ProgStat("tg_file_open");
  close(stats_fd);
  Info("hook_cost tg_file_open ungoverned=" + PerRun(s0, s1) + " governed=" + PerRun(s1, s2) +
       " (TCG)");
}

}  // namespace taogate::vmtest
