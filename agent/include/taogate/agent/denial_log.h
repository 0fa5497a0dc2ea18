// Why was my connect refused? The kernel can only say EPERM; the agent keeps
// the answer. DenialLog holds the recent denials of each workload cgroup and
// of each process, with a stable reason code, for the Why RPC.
//
// Fed by the event consumer (its thread): Exercised() for every kernel
// grant used (TG_ALLOW_GRANT), Record() for every denial. A no-grant denial
// to a target for which the same workload's grant was exercised within
// `consumed_window_ms` is reported as `consumed`, with that TAO's id and when
// it was used: a TAO opens exactly one connect.
//
// Reason codes (stable, lowercase; docs/agent.md):
//   no_grant        protected target, no grant for this workload
//   consumed        the workload's grant for it was already used (tao_id)
//   expired         a grant existed but had expired
//   quarantined     the workload is quarantined (kill switch)
//   raw_socket      raw or packet socket refused
//   killed          killed on the syscall (kill-switch kill mode, fallback)
//   file_denied     file governance (open or write of a protected file)
//   exec_denied     exec governance
//   self_protection signal, ptrace, bpf, cgroup escape against the agent
//   denied          any other denial
//
// Bounded memory whatever the event rate: the last `per_key` denials of
// each of at most `max_cgroups` cgroups and `max_pids` processes (least
// recently denied evicted first); consecutive repeats of one denial (same
// process, reason, target) are one entry with a count; at most
// `max_exercised` remembered grants. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "taogate/agent/deps.h"

namespace taogate::agent {

namespace denial {
inline constexpr char kNoGrant[] = "no_grant";
inline constexpr char kConsumed[] = "consumed";
inline constexpr char kExpired[] = "expired";
inline constexpr char kQuarantined[] = "quarantined";
inline constexpr char kRawSocket[] = "raw_socket";
inline constexpr char kKilled[] = "killed";
inline constexpr char kFileDenied[] = "file_denied";
inline constexpr char kExecDenied[] = "exec_denied";
inline constexpr char kSelfProtection[] = "self_protection";
inline constexpr char kDenied[] = "denied";
}  // namespace denial

struct Denial {
  uint64_t seq = 0;        // order of arrival (of the last repeat)
  int64_t time_ms = 0;     // wall clock of the last repeat
  uint64_t cgroup_id = 0;  // workload cgroup
  uint32_t pid = 0;        // tgid, in the agent's pid namespace
  std::string reason;      // a denial:: code
  std::string hook;        // kernel hook ("connect4", "lsm/file_open", ...)
  std::string target;      // "tcp:127.0.0.1:5432", "file:dev=..:ino=..", ...
  uint64_t count = 1;      // consecutive repeats
  bool has_tao = false;    // consumed: the TAO and when it was exercised
  TaoId tao_id{};
  int64_t consumed_at_ms = 0;
};

struct DenialLogOptions {
  size_t per_key = 16;
  size_t max_cgroups = 1024;
  size_t max_pids = 2048;
  size_t max_exercised = 4096;
  int64_t consumed_window_ms = 10 * 60'000;
};

class DenialLog {
 public:
  explicit DenialLog(DenialLogOptions options = {});

  // A grant of `cgroup_id` to `target` was used at `time_ms`.
  void Exercised(uint64_t cgroup_id, const std::string& target, const TaoId& tao_id, int64_t time_ms);
  // A denial; `d.reason` kNoGrant becomes kConsumed after a recent
  // Exercised() of the same cgroup and target. seq and count are set here.
  void Record(Denial d);

  // Newest first, at most `limit`. pid != 0: that process's denials (only
  // those in cgroup `cgroup_id` if it is non-zero); else cgroup_id != 0:
  // that cgroup's; else the newest across every cgroup.
  std::vector<Denial> Query(uint32_t pid, uint64_t cgroup_id, size_t limit) const;
  // True if `pid` has a kept denial in a cgroup other than `cgroup_id`: a
  // workload asking about that pid asks about another workload.
  bool PidDeniedElsewhere(uint32_t pid, uint64_t cgroup_id) const;

 private:
  // Recent denials per key, least recently denied key evicted first.
  template <typename Key>
  class Rings {
   public:
    Rings(size_t per_key, size_t max_keys) : per_key_(per_key), max_keys_(max_keys) {}
    void Add(Key k, const Denial& d);
    const std::vector<Denial>* Find(Key k) const;
    template <typename Fn>
    void ForEach(Fn fn) const {
      for (const auto& [k, e] : map_) fn(e.ring);
    }

   private:
    struct Entry {
      typename std::list<Key>::iterator lru;
      std::vector<Denial> ring;  // oldest first, at most per_key_
    };
    size_t per_key_, max_keys_;
    std::list<Key> lru_;  // most recently denied first
    std::unordered_map<Key, Entry> map_;
  };
  struct Use {
    TaoId tao_id{};
    int64_t time_ms = 0;
    std::list<std::string>::iterator lru;
  };

  const DenialLogOptions options_;
  mutable std::mutex mu_;
  uint64_t next_seq_ = 1;
  Rings<uint64_t> by_cgroup_;
  Rings<uint32_t> by_pid_;
  std::list<std::string> used_lru_;                 // keys of used_, newest first
  std::unordered_map<std::string, Use> used_;       // "<cgroup>|<target>"
};

}  // namespace taogate::agent
