// taogate::dns::Resolver: keeps the current address sets of the protected
// names, resolving each through the configured servers only (config.h) with
// c-ares over sockets of this process, A and AAAA in parallel, and again
// when its TTL runs out. What a set means, when it changes and what a
// failure does are NameTable's contract (name_table.h: union of current
// answers, fail closed, caps, TTL clamp and jitter); the wire rules are
// message.h's.
//
// Threading: Start() runs one thread that owns the c-ares channel; it
// resolves at most config.max_inflight names at once, earliest due first.
// Stop() returns within about one poll tick and joins; it is idempotent and
// the destructor calls it. SetNames, Snapshot and GetStats may be called
// from any thread at any time.
//
// Sink: OnChange is called on the resolver thread, one call per Change, in
// the order they happened, never under the resolver's lock (the sink may
// call Snapshot). The set is already current when OnChange runs: a Snapshot
// taken in between may show it first. The sink must not block for long (it
// delays the resolutions behind it) and must outlive the Resolver.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/common/clock.h"
#include "taogate/common/fd.h"
#include "taogate/dns/config.h"
#include "taogate/dns/name_table.h"

namespace taogate::dns {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void OnChange(const Change& change) = 0;
};

struct ResolverStats {
  Stats table;
  uint64_t queries = 0;  // sent (A and AAAA each count)
  size_t names = 0;
  size_t stale = 0;      // names with stale_since_ns != 0
  std::vector<Server> servers;
};

class Resolver {
 public:
  // Validates the config, reads the servers (resolv.conf when none is
  // configured) and opens the channel; nothing is sent before Start().
  static absl::StatusOr<std::unique_ptr<Resolver>> Create(Config config, Sink& sink,
                                                          const Clock& clock = RealClock());
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Start at most once; Stop() is final.
  void Start();
  void Stop();

  // Replaces the watched names (canonicalized, message.h). InvalidArgument,
  // and nothing changes, on a bad name or more than max_names.
  absl::Status SetNames(const std::vector<std::string>& names);
  std::vector<NameStatus> Snapshot() const;
  ResolverStats GetStats() const;

 private:
  struct Channel;
  struct Query;
  Resolver(Config config, std::vector<Server> servers, Sink& sink, const Clock& clock);
  void Run();
  void Send(const std::string& name);
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* buf, int len);
  void Finish(Query* q, int family, int status, const unsigned char* buf, int len);
  void Wake();

  const Config config_;
  const std::vector<Server> servers_;
  Sink& sink_;
  const Clock& clock_;
  std::unique_ptr<Channel> channel_;  // the resolver thread's only
  UniqueFd wake_;                     // eventfd: SetNames and Stop
  mutable std::mutex mu_;
  NameTable table_;                   // guarded by mu_
  std::vector<Change> pending_;       // guarded by mu_; delivered by the thread
  uint64_t queries_ = 0;              // guarded by mu_
  size_t inflight_ = 0;               // the resolver thread's only
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace taogate::dns
