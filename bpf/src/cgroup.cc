#include "taogate/bpf/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

namespace fs = std::filesystem;

struct Cgroup2MountInfo {
  std::string root;   // path of the mount's root inside the hierarchy
  std::string point;  // mount point
};

absl::StatusOr<Cgroup2MountInfo> FindMount() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return ErrnoStatus(errno, "open /proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint opts [optional...] - fstype src opts
    size_t sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream tail(line.substr(sep + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, sep));
    std::string id, parent, dev, root, point;
    head >> id >> parent >> dev >> root >> point;
    return Cgroup2MountInfo{root, point};
  }
  return absl::NotFoundError("no cgroup2 mount in /proc/self/mountinfo");
}

size_t Depth(const fs::path& rel) {
  size_t n = 0;
  for (const auto& c : rel) {
    if (!c.empty() && c != "/" && c != ".") ++n;
  }
  return n;
}

}  // namespace

absl::StatusOr<std::string> Cgroup2Mount() {
  TG_ASSIGN_OR_RETURN(Cgroup2MountInfo m, FindMount());
  return m.point;
}

absl::StatusOr<uint64_t> CgroupId(const std::string& path) {
  struct {
    struct file_handle fh;
    uint64_t id;
  } h;
  h.fh.handle_bytes = sizeof(h.id);
  int mount_id = 0;
  if (name_to_handle_at(AT_FDCWD, path.c_str(), &h.fh, &mount_id, 0) != 0) {
    return ErrnoStatus(errno, StrCat("name_to_handle_at ", path));
  }
  if (h.fh.handle_bytes != sizeof(uint64_t)) {
    return absl::FailedPreconditionError(StrCat(path, ": not a cgroup2 directory"));
  }
  return h.id;
}

absl::StatusOr<uint32_t> CgroupLevel(const std::string& path) {
  TG_ASSIGN_OR_RETURN(Cgroup2MountInfo m, FindMount());
  fs::path p = fs::path(path).lexically_normal();
  fs::path rel = p.lexically_relative(m.point);
  if (rel.empty() || *rel.begin() == "..") {
    return absl::InvalidArgumentError(StrCat(path, " is not under the cgroup2 mount ", m.point));
  }
  return static_cast<uint32_t>(Depth(m.root) + Depth(rel));
}

absl::StatusOr<std::string> CgroupPathOfPid(pid_t pid) {
  TG_ASSIGN_OR_RETURN(Cgroup2MountInfo m, FindMount());
  std::ifstream in(StrCat("/proc/", pid, "/cgroup"));
  if (!in) return ErrnoStatus(errno, StrCat("open /proc/", pid, "/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string rel = line.substr(3);
    // Paths in /proc/<pid>/cgroup are relative to the reader's cgroup
    // namespace root, which is what the mount's root shows as well.
    fs::path mroot(m.root);
    fs::path r = fs::path(rel).lexically_relative(mroot);
    if (r.empty() || *r.begin() == "..") r = fs::path(rel).relative_path();
    return (fs::path(m.point) / r).lexically_normal().string();
  }
  return absl::NotFoundError(StrCat("pid ", pid, " has no cgroup v2 entry"));
}

absl::StatusOr<std::string> WorkloadCgroupOfPid(pid_t pid, const std::string& governed_root) {
  TG_ASSIGN_OR_RETURN(std::string cg, CgroupPathOfPid(pid));
  fs::path rel = fs::path(cg).lexically_relative(fs::path(governed_root).lexically_normal());
  if (rel.empty() || rel == "." || *rel.begin() == "..") {
    return absl::NotFoundError(StrCat("pid ", pid, " (", cg, ") is not below ", governed_root));
  }
  return (fs::path(governed_root).lexically_normal() / *rel.begin()).string();
}

absl::Status CreateCgroup(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, StrCat("mkdir ", path));
  }
  return absl::OkStatus();
}

absl::Status MoveToCgroup(pid_t pid, const std::string& path) {
  std::string procs = StrCat(path, "/cgroup.procs");
  UniqueFd fd(open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, StrCat("open ", procs));
  std::string s = std::to_string(pid);
  if (write(fd.get(), s.data(), s.size()) != static_cast<ssize_t>(s.size())) {
    return ErrnoStatus(errno, StrCat("move pid ", pid, " to ", path));
  }
  return absl::OkStatus();
}

absl::Status DestroyCgroupTree(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return absl::OkStatus();
  {
    UniqueFd kill_fd(open(StrCat(path, "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC));
    if (kill_fd && write(kill_fd.get(), "1", 1) != 1) {
      return ErrnoStatus(errno, StrCat("cgroup.kill ", path));
    }
  }
  // Children first (post-order); rmdir fails with EBUSY while killed
  // processes are still exiting, so retry for a bounded time.
  std::vector<std::string> dirs;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) dirs.push_back(it->path().string());
  }
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
  dirs.push_back(path);
  for (const std::string& d : dirs) {
    for (int attempt = 0;; ++attempt) {
      if (rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || attempt >= 500) return ErrnoStatus(errno, StrCat("rmdir ", d));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ScopedCgroup> ScopedCgroup::Create(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0) return ErrnoStatus(errno, StrCat("mkdir ", path));
  return ScopedCgroup(path);
}

ScopedCgroup& ScopedCgroup::operator=(ScopedCgroup&& o) noexcept {
  if (this != &o) {
    if (!path_.empty()) (void)DestroyCgroupTree(path_);
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

// Destroying is best effort (a move or a destructor cannot report): a cgroup
// that still holds a process stays behind for the operator to remove.
ScopedCgroup::~ScopedCgroup() {
  if (!path_.empty()) (void)DestroyCgroupTree(path_);
}

}  // namespace taogate::bpf
