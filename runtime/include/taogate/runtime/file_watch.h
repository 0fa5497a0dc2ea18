// FileWatch: calls back when any of a set of files may have changed, for
// reloading certificates, trust bundles and policy without a restart
// (docs/governor.md and docs/agent.md, "Reload").
//
// It watches the *directories* of the files with inotify, not the files:
// Kubernetes updates a mounted Secret or ConfigMap by writing a new
// timestamped directory and renaming the `..data` symlink onto it (the file
// names are symlinks through `..data`), so the file's inode never changes;
// editors and `mv` replace the file. Any create, rename into, close after
// write, delete or attribute change in a watched directory counts. Events
// are debounced: the callback runs once, `debounce` after the last event of
// a burst, so a half-written set of files is not read mid-swap by the watch
// (the callback must still validate everything it reads).
//
// Thread safety: the callback runs on the watch's own thread, never
// concurrently with itself. Stop() (and the destructor) joins the thread; do
// not call it from the callback.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/common/fd.h"

namespace taogate::runtime {

class FileWatch {
 public:
  // Watches the parent directory of every path (duplicates once). NotFound
  // or the errno of inotify for a directory that cannot be watched.
  static absl::StatusOr<std::unique_ptr<FileWatch>> Start(
      const std::vector<std::string>& paths, std::chrono::milliseconds debounce,
      std::function<void()> on_change);
  ~FileWatch();
  void Stop();

 private:
  FileWatch() = default;
  void Loop();

  UniqueFd inotify_, wake_;  // wake_: an eventfd Stop() writes
  std::chrono::milliseconds debounce_{0};
  std::function<void()> on_change_;
  std::thread thread_;
};

}  // namespace taogate::runtime
