#include "taogate/agent/cgroup_watch.h"

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "taogate/common/log.h"
#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {
constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;

int Depth(const std::string& rel, const std::string& root_rel) {
  int depth = 0;
  for (size_t i = root_rel.size(); i < rel.size(); ++i) depth += rel[i] == '/';
  return depth;
}
}  // namespace

CgroupTreeWatch::CgroupTreeWatch(std::string mount, std::string root_rel, PodClassifier& classifier,
                                 int64_t rescan_ms)
    : mount_(std::move(mount)), root_rel_(std::move(root_rel)), classifier_(classifier), rescan_ms_(rescan_ms) {}

absl::StatusOr<std::unique_ptr<CgroupTreeWatch>> CgroupTreeWatch::Open(std::string mount, std::string root_rel,
                                                                       PodClassifier& classifier,
                                                                       int64_t rescan_ms) {
  std::unique_ptr<CgroupTreeWatch> w(
      new CgroupTreeWatch(std::move(mount), std::move(root_rel), classifier, rescan_ms));
  w->inotify_ = UniqueFd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w->inotify_) return absl::UnavailableError(StrCat("inotify_init1: ", strerror(errno)));
  w->stop_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!w->stop_) return absl::UnavailableError(StrCat("eventfd: ", strerror(errno)));
  if (absl::Status st = w->AddWatch(w->root_rel_); !st.ok()) return st;
  // Level-1 directories (QoS cgroups) after the root's watch is in place, so
  // one created meanwhile is seen either by the scan or by an event.
  auto tree = ScanPodLevels(w->mount_, w->root_rel_);
  if (!tree.ok()) return tree.status();
  for (const CgroupDir& d : *tree)
    if (Depth(d.path, w->root_rel_) == 1) (void)w->AddWatch(d.path);
  return w;
}

CgroupTreeWatch::~CgroupTreeWatch() { Stop(); }

absl::Status CgroupTreeWatch::AddWatch(const std::string& rel) {
  int wd = inotify_add_watch(inotify_.get(), (mount_ + rel).c_str(), kMask);
  if (wd < 0) return absl::UnavailableError(StrCat("inotify_add_watch ", mount_ + rel, ": ", strerror(errno)));
  watches_[wd] = rel;
  return absl::OkStatus();
}

void CgroupTreeWatch::Start() { thread_ = std::thread([this] { Run(); }); }

void CgroupTreeWatch::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof(one));
  thread_.join();
}

CgroupWatchStats CgroupTreeWatch::stats() const {
  return {created_.load(), removed_.load(), rescans_.load(), overflows_.load()};
}

void CgroupTreeWatch::Run() {
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    int n = poll(fds, 2, static_cast<int>(rescan_ms_));
    if (n < 0 && errno == EINTR) continue;
    if (fds[1].revents) return;
    if (n == 0) {
      Rescan();
      continue;
    }
    Drain();
  }
}

void CgroupTreeWatch::Drain() {
  alignas(inotify_event) char buf[16384];
  for (;;) {
    ssize_t len = read(inotify_.get(), buf, sizeof(buf));
    if (len <= 0) return;  // EAGAIN: drained
    for (char* p = buf; p < buf + len;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        ++overflows_;
        Rescan();
        continue;
      }
      if (ev->mask & IN_IGNORED) {
        watches_.erase(ev->wd);
        continue;
      }
      auto w = watches_.find(ev->wd);
      if (w == watches_.end() || ev->len == 0 || !(ev->mask & IN_ISDIR)) continue;
      std::string rel = w->second + "/" + ev->name;
      if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
        struct stat st {};
        if (stat((mount_ + rel).c_str(), &st) != 0) continue;  // already gone
        ++created_;
        const bool qos = w->second == root_rel_ && AddWatch(rel).ok();
        classifier_.CgroupAppeared({rel, static_cast<uint64_t>(st.st_ino)});
        // A pod created in a new QoS directory before its watch was in place
        // has no event of its own: look now rather than at the next rescan.
        if (qos) AppearChildren(rel);
      } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
        ++removed_;
        classifier_.CgroupGone(rel);
      }
    }
  }
}

void CgroupTreeWatch::AppearChildren(const std::string& rel) {
  DIR* dir = opendir((mount_ + rel).c_str());
  if (dir == nullptr) return;  // already gone
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string child = rel + "/" + e->d_name;
    struct stat st {};
    if (stat((mount_ + child).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    classifier_.CgroupAppeared({child, static_cast<uint64_t>(st.st_ino)});
  }
  closedir(dir);
}

void CgroupTreeWatch::Rescan() {
  ++rescans_;
  auto tree = ScanPodLevels(mount_, root_rel_);
  if (!tree.ok()) {
    log::Warn("cgroup rescan failed", {{"error", std::string(tree.status().message())}});
    return;
  }
  for (const CgroupDir& d : *tree) {
    if (Depth(d.path, root_rel_) == 1) {
      bool watched = false;
      for (const auto& [wd, rel] : watches_) watched = watched || rel == d.path;
      if (!watched) (void)AddWatch(d.path);
    }
    classifier_.CgroupAppeared(d);
  }
  classifier_.Retain(*tree);
}

}  // namespace taogate::agent
