// Pods mode: tells the PodClassifier about cgroup directories created and
// removed at the pod levels below kubelet's kubepods root, as they happen.
//
// inotify (IN_CREATE / IN_DELETE on directories; cgroup v2 mkdir and rmdir
// go through the VFS, so fsnotify sees them) on the root and on each
// directory one level below it (the QoS cgroups; a Guaranteed pod's
// directory is watched too, harmlessly). A kubelet creates the pod cgroup
// before the sandbox and its first container, so the entry normally lands
// before any process of the pod runs; until it does the kernel treats the
// cgroup as governed (fail closed). Queue overflow (IN_Q_OVERFLOW) and a
// periodic rescan (every rescan_ms) re-list the tree, so no event loss lasts.
//
// The thread runs from Start() to Stop() (or destruction).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "taogate/agent/pod_classifier.h"
#include "taogate/common/fd.h"

namespace taogate::agent {

struct CgroupWatchStats {
  uint64_t created = 0;
  uint64_t removed = 0;
  uint64_t rescans = 0;
  uint64_t overflows = 0;
};

class CgroupTreeWatch {
 public:
  // mount: the cgroup2 mount; root_rel: the kubepods root below it.
  static absl::StatusOr<std::unique_ptr<CgroupTreeWatch>> Open(std::string mount, std::string root_rel,
                                                               PodClassifier& classifier,
                                                               int64_t rescan_ms = 30'000);
  ~CgroupTreeWatch();
  CgroupTreeWatch(const CgroupTreeWatch&) = delete;
  CgroupTreeWatch& operator=(const CgroupTreeWatch&) = delete;

  // Watches are in place after Open(); Start() runs the event thread.
  void Start();
  void Stop();
  CgroupWatchStats stats() const;

 private:
  CgroupTreeWatch(std::string mount, std::string root_rel, PodClassifier& classifier, int64_t rescan_ms);
  absl::Status AddWatch(const std::string& rel);
  void Run();
  void Drain();
  // CgroupAppeared for each directory already inside `rel` (a new QoS cgroup).
  void AppearChildren(const std::string& rel);
  void Rescan();

  const std::string mount_, root_rel_;
  PodClassifier& classifier_;
  const int64_t rescan_ms_;
  UniqueFd inotify_, stop_;
  std::map<int, std::string> watches_;  // wd -> path relative to the mount (event thread only after Open)
  std::thread thread_;
  std::atomic<uint64_t> created_{0}, removed_{0}, rescans_{0}, overflows_{0};
};

}  // namespace taogate::agent
