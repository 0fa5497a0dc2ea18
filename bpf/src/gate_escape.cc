// Escape hooks' starting state: the processes already inside the governed
// subtree when the gate attaches get their mark (gate_escape.bpf.h); the
// hooks mark every later arrival themselves.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "gate_bpf.skel.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace fs = std::filesystem;

// Task storage takes a pidfd as the key from user space. A process that
// exits meanwhile is skipped; one already marked by a hook keeps its mark.
absl::Status Gate::MarkGovernedTasks() {
  if (!bpf_program__autoload(skel_->progs.tg_escape_attach)) return absl::OkStatus();
  int map = bpf_map__fd(skel_->maps.tg_governed_tasks);
  std::error_code ec;
  std::vector<fs::path> dirs{options_.governed_cgroup};
  for (fs::recursive_directory_iterator it(options_.governed_cgroup, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path());
  }
  for (const fs::path& dir : dirs) {
    std::ifstream procs(dir / "cgroup.procs");
    pid_t pid;
    while (procs >> pid) {
      UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
      if (!pidfd) continue;  // gone
      absl::StatusOr<uint64_t> wid = WorkloadIdOfPid(pid);
      uint64_t v = wid.ok() ? *wid : 0;  // directly in the root or a QoS cgroup: 0
      int fd = pidfd.get();
      if (bpf_map_update_elem(map, &fd, &v, BPF_NOEXIST) != 0 && errno != EEXIST &&
          errno != ESRCH) {
        return ErrnoStatus(errno, StrCat("mark governed pid ", pid));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace taogate::bpf
