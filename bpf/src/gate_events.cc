// Gate read side: counters and the decision-event reader (ring buffer).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gate_bpf.skel.h"
#include "gate_internal.h"
#include "target.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"

namespace taogate::bpf {

absl::StatusOr<std::map<std::string, uint64_t>> Gate::Counters() const {
  static const char* kNames[TG_CNT_MAX] = {
      "checked", "allow_grant", "deny", "deny_expired", "deny_quarantine",
      "deny_raw", "skb_dropped", "kill", "events_lost", "kill_open", "kill_exec"};
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus(-ncpu, "possible cpus");
  std::map<std::string, uint64_t> out;
  std::vector<uint64_t> vals(ncpu);
  for (uint32_t i = 0; i < TG_CNT_MAX; ++i) {
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tg_counters), &i, vals.data()) != 0) {
      return ErrnoStatus(errno, "read counters");
    }
    uint64_t sum = 0;
    for (uint64_t v : vals) sum += v;
    out[kNames[i]] = sum;
  }
  return out;
}

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAllowGrant: return "allow_grant";
    case Verdict::kDeny: return "deny";
    case Verdict::kDenyQuarantine: return "deny_quarantine";
    case Verdict::kDenyRaw: return "deny_raw";
    case Verdict::kKill: return "kill";
    case Verdict::kDenyExpired: return "deny_expired";
  }
  return "unknown";
}

namespace internal {
namespace {
const char* HookName(uint8_t h) {
  static const char* kNames[] = {"?", "connect4", "connect6", "sendmsg4", "sendmsg6",
                                 "connect_unix", "sendmsg_unix", "sock_create", "sys_enter",
                                 "file_open",    "exec",     "fork",       "net_raw",
                                 "cgroup_escape"};
  return h < sizeof(kNames) / sizeof(kNames[0]) ? kNames[h] : "?";
}
}  // namespace

// Records are checked for size and copied out before the callback sees them.
int OnRingRecord(void* ctx, void* data, size_t size) {
  auto* fn = *static_cast<const std::function<void(const DecisionEvent&)>**>(ctx);
  if (size < sizeof(tg_decision_event) || fn == nullptr) return 0;
  tg_decision_event raw;
  std::memcpy(&raw, data, sizeof(raw));
  DecisionEvent e;
  e.time_ns = raw.time_ns;
  e.cgroup_id = raw.cgroup_id;
  std::memcpy(e.tao_id.data(), raw.tao_id, 16);
  e.verdict = static_cast<Verdict>(raw.verdict);
  e.hook = HookName(raw.hook);
  e.pid = raw.pid;
  e.family = raw.family;
  e.proto = raw.proto;
  e.port = raw.port;
  e.audit = raw.audit != 0;
  if (raw.hook == TG_HOOK_OPEN_KILL || raw.hook == TG_HOOK_EXEC_KILL) {
    std::memcpy(&e.dev, raw.addr, 8);
    std::memcpy(&e.ino, raw.addr + 8, 8);
  } else if (raw.family == AF_INET || raw.family == AF_INET6) {
    target::Ip ip;
    ip.family = raw.family == AF_INET ? 4 : 6;
    std::memcpy(ip.bytes.data(), raw.addr, 16);
    e.address = target::FormatIp(ip);
  } else if (raw.family == AF_UNIX) {
    e.address.assign(reinterpret_cast<const char*>(raw.addr),
                     strnlen(reinterpret_cast<const char*>(raw.addr), sizeof(raw.addr)));
  }
  (*fn)(e);
  return 0;
}
}  // namespace internal

absl::StatusOr<int> Gate::PollEvents(int timeout_ms,
                                     const std::function<void(const DecisionEvent&)>& fn) {
  // The programs submit without wakeups, so a blocking poll would not be
  // woken by new records: wait in short slices instead (bounded latency).
  constexpr int kSliceMs = 10;
  poll_fn_ = &fn;
  int total = 0, waited = 0;
  while (true) {
    int n = ring_buffer__consume(ring_);
    if (n < 0 && n != -EINTR) {
      poll_fn_ = nullptr;
      return ErrnoStatus(-n, "ring_buffer__consume");
    }
    if (n > 0) total += n;
    if (total > 0 || waited >= timeout_ms) break;
    int slice = std::min(kSliceMs, timeout_ms - waited);
    struct timespec ts {0, slice * 1000000L};
    nanosleep(&ts, nullptr);
    waited += slice;
  }
  poll_fn_ = nullptr;
  return total;
}

}  // namespace taogate::bpf
