// Escape hooks' starting state: the processes already inside the governed
// subtree when the gate attaches get their mark (gate_escape.bpf.h); the
// hooks mark every later arrival themselves.
#include <bpf/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "gate_internal.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::internal {
namespace fs = std::filesystem;

// Task storage takes a pidfd as the key from user space. A process that
// exits meanwhile is skipped; one already marked by a hook keeps its mark.
absl::Status MarkGovernedTasks(const Gate& gate, int map, const std::string& governed_root) {
  std::error_code ec;
  std::vector<fs::path> dirs{governed_root};
  for (fs::recursive_directory_iterator it(governed_root, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path());
  }
  for (const fs::path& dir : dirs) {
    std::ifstream procs(dir / "cgroup.procs");
    pid_t pid;
    while (procs >> pid) {
      UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
      if (!pidfd) continue;  // gone
      absl::StatusOr<uint64_t> wid = gate.WorkloadIdOfPid(pid);
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

}  // namespace taogate::bpf::internal
