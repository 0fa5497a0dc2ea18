// One resource kept in step with the API server, the way client-go's
// reflector does it:
//   1. LIST (no resourceVersion: a consistent read) -> Sink::Replace, and the
//      list's metadata.resourceVersion becomes the watch's starting point;
//   2. WATCH from there with allowWatchBookmarks=true and a timeoutSeconds
//      drawn from [min_watch_timeout, 2*min_watch_timeout); every event and
//      BOOKMARK advances the resourceVersion;
//   3. the server ending the watch normally -> watch again from the last
//      resourceVersion at once (after a backoff if it ended within a second
//      with no event); a dropped connection or an HTTP error -> the same after
//      a capped exponential backoff with jitter;
//   4. 410 Gone (HTTP status or an ERROR event with code 410) -> relist;
//      a malformed or oversized event, or one the Sink refuses -> an error,
//      backoff, relist (the relist repairs whatever the stream left half done);
//   5. 401 -> the token file is re-read before the retry; 403 -> an error
//      naming the missing RBAC permission, backoff.
// The backoff resets after a successful list or a received event.
//
// Threading: Start() runs the loop on its own thread until Stop(), which
// returns within about 100 ms (a blocked transfer polls the stop flag) and
// joins. Status() may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "taogate/k8s/api_client.h"
#include "taogate/k8s/store.h"

namespace taogate::k8s {

struct ReflectorOptions {
  absl::Duration initial_backoff = absl::Milliseconds(800);
  absl::Duration max_backoff = absl::Seconds(30);
  double jitter = 1.0;  // a delay d becomes d * (1 + jitter * U[0,1)), capped
  absl::Duration min_watch_timeout = absl::Minutes(5);
  size_t max_event_bytes = 8u << 20;  // one watch event line
};

struct ReflectorStatus {
  bool connected = false;  // a watch stream is open
  bool synced = false;     // at least one list delivered
  std::string resource_version;
  uint64_t lists = 0;      // successful lists (the first one included)
  uint64_t relists = 0;    // lists after the first
  uint64_t watches = 0;    // watch streams opened (HTTP 200)
  uint64_t events = 0;     // ADDED/MODIFIED/DELETED applied
  uint64_t bookmarks = 0;
  uint64_t errors = 0;
  std::string last_error;
};

class Reflector {
 public:
  // `path`: the collection ("/api/v1/pods"); `selector`: a fieldSelector value
  // or empty. `client` and `sink` must outlive the Reflector.
  Reflector(std::string name, ApiClient& client, std::string path, std::string selector,
            Sink& sink, ReflectorOptions options = {});
  ~Reflector();  // Stop()
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void Start();
  // Tells the thread to end (it notices within one poll tick) without
  // waiting: stopping several reflectors then costs one tick, not one each.
  void RequestStop();
  void Stop();  // RequestStop, then waits for the thread
  ReflectorStatus Status() const;

 private:
  enum class Next { kWatch, kRelist, kBackoffWatch, kBackoffRelist };
  void Run();
  absl::Status List();
  Next Watch();
  absl::Status HttpError(long status, const std::string& body, bool listing);
  absl::Status HandleLine(std::string_view line, bool& gone);
  void Fail(const absl::Status& status);
  void Sleep(absl::Duration d);
  absl::Duration NextBackoff();
  std::string Target(bool watch);

  const std::string name_;
  ApiClient& client_;
  const std::string path_;
  const std::string selector_;
  Sink& sink_;
  const ReflectorOptions options_;

  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::mt19937_64 rng_{std::random_device{}()};
  int backoff_step_ = 0;
  int gone_in_row_ = 0;  // 410s with no event in between

  mutable std::mutex mu_;
  ReflectorStatus status_;
};

}  // namespace taogate::k8s
