#include "taogate/runtime/file_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::runtime {

absl::StatusOr<std::unique_ptr<FileWatch>> FileWatch::Start(const std::vector<std::string>& paths,
                                                            std::chrono::milliseconds debounce,
                                                            std::function<void()> on_change) {
  std::unique_ptr<FileWatch> w(new FileWatch());
  w->inotify_ = UniqueFd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w->inotify_) return ErrnoStatus(errno, "inotify_init1");
  w->wake_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!w->wake_) return ErrnoStatus(errno, "eventfd");
  std::set<std::string> dirs;
  for (const auto& p : paths) {
    if (p.empty()) continue;
    std::string dir = std::filesystem::absolute(p).parent_path().string();
    if (!dirs.insert(dir).second) continue;
    constexpr uint32_t kMask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB |
                               IN_MOVED_FROM | IN_ONLYDIR;
    if (inotify_add_watch(w->inotify_.get(), dir.c_str(), kMask) < 0)
      return ErrnoStatus(errno, StrCat("inotify_add_watch ", dir));
  }
  w->debounce_ = debounce;
  w->on_change_ = std::move(on_change);
  w->thread_ = std::thread([p = w.get()] { p->Loop(); });
  return w;
}

FileWatch::~FileWatch() { Stop(); }

void FileWatch::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void FileWatch::Loop() {
  bool pending = false;
  while (true) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    // Waiting for a burst to end: wake at the debounce; else sleep until an event.
    const int timeout = pending ? static_cast<int>(debounce_.count()) : -1;
    const int n = poll(fds, 2, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::Error("file watch stopped", {{"error", ErrnoStatus(errno, "poll").ToString()}});
      return;
    }
    if (fds[1].revents != 0) return;
    if (n == 0) {  // quiet for a whole debounce: the burst is over
      pending = false;
      on_change_();
      continue;
    }
    alignas(inotify_event) char buf[4096];
    while (read(inotify_.get(), buf, sizeof buf) > 0) {
    }
    pending = true;  // restart the debounce
  }
}

}  // namespace taogate::runtime
