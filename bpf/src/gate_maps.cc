// Gate map programming: targets, grants, quarantine, config, counters and
// the decision-event reader. Every map write is checked; a failure is an
// error for the caller, never silently ignored.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "gate_bpf.skel.h"
#include "gate_internal.h"
#include "target.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

using internal::IpAddr;

uint64_t MonoNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

std::vector<uint8_t> Protos(Proto p) {
  if (p == Proto::kAny) return {static_cast<uint8_t>(Proto::kTcp), static_cast<uint8_t>(Proto::kUdp)};
  return {static_cast<uint8_t>(p)};
}

// Calls fn(map_fd, key bytes) for every LPM key a target expands to.
absl::Status ForEachLpmKey(gate_bpf* skel, const Target& t,
                           const std::function<absl::Status(int, const void*)>& fn) {
  TG_ASSIGN_OR_RETURN(internal::Prefix pfx, internal::ParseCidr(t.cidr));
  TG_ASSIGN_OR_RETURN(std::vector<uint16_t> ports, internal::ExpandPorts(t.port_lo, t.port_hi));
  for (uint8_t proto : Protos(t.proto)) {
    for (uint16_t port : ports) {
      if (pfx.addr.family == AF_INET) {
        tg_lpm4_key k{};
        k.prefixlen = 24 + pfx.len;
        k.proto = proto;
        k.port_be[0] = port >> 8;
        k.port_be[1] = port & 0xff;
        std::memcpy(k.addr, pfx.addr.bytes.data(), 4);
        TG_RETURN_IF_ERROR(fn(bpf_map__fd(skel->maps.tg_targets4), &k));
      } else {
        tg_lpm6_key k{};
        k.prefixlen = 24 + pfx.len;
        k.proto = proto;
        k.port_be[0] = port >> 8;
        k.port_be[1] = port & 0xff;
        std::memcpy(k.addr, pfx.addr.bytes.data(), 16);
        TG_RETURN_IF_ERROR(fn(bpf_map__fd(skel->maps.tg_targets6), &k));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<tg_grant_key> IpGrantKey(uint64_t cgroup_id, const GrantTarget& g) {
  if (g.proto != Proto::kTcp && g.proto != Proto::kUdp) {
    return absl::InvalidArgumentError("a grant is for exactly one protocol (tcp or udp)");
  }
  if (g.port == 0) return absl::InvalidArgumentError("a grant needs a port");
  TG_ASSIGN_OR_RETURN(IpAddr a, internal::ParseIp(g.address));
  tg_grant_key k{};
  k.cgroup_id = cgroup_id;
  k.proto = static_cast<uint8_t>(g.proto);
  k.family = static_cast<uint8_t>(a.family);
  k.port = g.port;
  std::memcpy(k.addr, a.bytes.data(), 16);
  return k;
}

}  // namespace

absl::Status Gate::AddTarget(const Target& t) {
  tg_target_val v{static_cast<uint32_t>(t.kind), t.rule_id};
  if (!t.unix_path.empty()) {
    TG_ASSIGN_OR_RETURN(tg_unix_key k, internal::UnixKey(t.unix_path));
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.tg_unix_targets), &k, &v, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "add unix target " + t.unix_path);
    }
    return RecomputeFlags();
  }
  return ForEachLpmKey(skel_, t, [&](int fd, const void* key) {
    if (bpf_map_update_elem(fd, key, &v, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "add target " + t.cidr);
    }
    return absl::OkStatus();
  });
}

absl::Status Gate::RemoveTarget(const Target& t) {
  if (!t.unix_path.empty()) {
    TG_ASSIGN_OR_RETURN(tg_unix_key k, internal::UnixKey(t.unix_path));
    if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_unix_targets), &k) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "remove unix target " + t.unix_path);
    }
    return RecomputeFlags();
  }
  return ForEachLpmKey(skel_, t, [&](int fd, const void* key) {
    if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "remove target " + t.cidr);
    }
    return absl::OkStatus();
  });
}

absl::Status Gate::InstallGrant(uint64_t cgroup_id, const GrantTarget& target, const TaoId& tao_id,
                                uint64_t expiry_mono_ns) {
  if (cgroup_id == 0) return absl::InvalidArgumentError("grant needs a workload cgroup id");
  if (expiry_mono_ns <= MonoNowNs()) return absl::InvalidArgumentError("grant already expired");
  tg_grant_val v{};
  std::memcpy(v.tao_id, tao_id.data(), 16);
  v.expiry_ns = expiry_mono_ns;
  int fd;
  tg_grant_key ip_key{};
  tg_unix_grant_key unix_key{};
  const void* key;
  if (!target.unix_path.empty()) {
    TG_ASSIGN_OR_RETURN(unix_key.path, internal::UnixKey(target.unix_path));
    unix_key.cgroup_id = cgroup_id;
    fd = bpf_map__fd(skel_->maps.tg_unix_grants);
    key = &unix_key;
  } else {
    TG_ASSIGN_OR_RETURN(ip_key, IpGrantKey(cgroup_id, target));
    fd = bpf_map__fd(skel_->maps.tg_grants);
    key = &ip_key;
  }
  // BPF_NOEXIST: never overwrite a live grant (consume_grant relies on it).
  // A dead one (consumed or expired, not yet deleted) is removed first.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (bpf_map_update_elem(fd, key, &v, BPF_NOEXIST) == 0) return absl::OkStatus();
    if (errno != EEXIST) return ErrnoStatus(errno, "install grant");
    tg_grant_val old{};
    if (bpf_map_lookup_elem(fd, key, &old) == 0 && old.state == 0 &&
        old.expiry_ns > MonoNowNs()) {
      return absl::AlreadyExistsError("an unused grant for this cgroup and target is pending");
    }
    if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "remove dead grant");
    }
  }
  return absl::AbortedError("grant slot contended; retry");
}

absl::Status Gate::RevokeGrant(uint64_t cgroup_id, const GrantTarget& target) {
  if (!target.unix_path.empty()) {
    tg_unix_grant_key k{};
    TG_ASSIGN_OR_RETURN(k.path, internal::UnixKey(target.unix_path));
    k.cgroup_id = cgroup_id;
    if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_unix_grants), &k) != 0) {
      return errno == ENOENT ? absl::NotFoundError("no such grant") : ErrnoStatus(errno, "revoke");
    }
    return absl::OkStatus();
  }
  TG_ASSIGN_OR_RETURN(tg_grant_key k, IpGrantKey(cgroup_id, target));
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_grants), &k) != 0) {
    return errno == ENOENT ? absl::NotFoundError("no such grant") : ErrnoStatus(errno, "revoke");
  }
  return absl::OkStatus();
}

namespace {
template <typename Key>
absl::StatusOr<size_t> SweepMap(int fd, bool count_only, size_t* live) {
  uint64_t now = MonoNowNs();
  std::vector<Key> dead;
  Key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    tg_grant_val v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
      if (v.state != 0 || v.expiry_ns <= now) dead.push_back(next);
      else ++*live;
    }
    key = next;
    prev = &key;
  }
  if (count_only) return size_t{0};
  for (const Key& k : dead) bpf_map_delete_elem(fd, &k);
  return dead.size();
}
}  // namespace

absl::StatusOr<size_t> Gate::SweepExpiredGrants() {
  size_t live = 0;
  TG_ASSIGN_OR_RETURN(size_t a, SweepMap<tg_grant_key>(bpf_map__fd(skel_->maps.tg_grants), false, &live));
  TG_ASSIGN_OR_RETURN(size_t b, SweepMap<tg_unix_grant_key>(bpf_map__fd(skel_->maps.tg_unix_grants), false, &live));
  return a + b;
}

absl::StatusOr<size_t> Gate::GrantCount() {
  size_t live = 0;
  TG_RETURN_IF_ERROR(SweepMap<tg_grant_key>(bpf_map__fd(skel_->maps.tg_grants), true, &live).status());
  TG_RETURN_IF_ERROR(SweepMap<tg_unix_grant_key>(bpf_map__fd(skel_->maps.tg_unix_grants), true, &live).status());
  return live;
}

absl::Status Gate::Quarantine(uint64_t cgroup_id, QuarantineMode mode) {
  uint32_t m = static_cast<uint32_t>(mode);
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.tg_quarantine), &cgroup_id, &m, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "quarantine");
  }
  return RecomputeFlags();
}

absl::Status Gate::Release(uint64_t cgroup_id) {
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_quarantine), &cgroup_id) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "release");
  }
  return RecomputeFlags();
}

absl::Status Gate::QuarantineAll(QuarantineMode mode) {
  TG_RETURN_IF_ERROR(WriteConfig([&](void* p) {
    static_cast<tg_config*>(p)->quarantine_all = static_cast<uint32_t>(mode);
  }));
  return RecomputeFlags();
}

absl::Status Gate::ReleaseAll() {
  TG_RETURN_IF_ERROR(WriteConfig([&](void* p) { static_cast<tg_config*>(p)->quarantine_all = 0; }));
  return RecomputeFlags();
}

absl::Status Gate::WriteConfig(const std::function<void(void*)>& edit) {
  std::lock_guard<std::mutex> lock(config_mu_);
  int fd = bpf_map__fd(skel_->maps.tg_config);
  uint32_t zero = 0;
  tg_config c{};
  if (bpf_map_lookup_elem(fd, &zero, &c) != 0) return ErrnoStatus(errno, "read tg_config");
  edit(&c);
  if (bpf_map_update_elem(fd, &zero, &c, BPF_ANY) != 0) return ErrnoStatus(errno, "write tg_config");
  return absl::OkStatus();
}

// kill_armed and unix_protected summarize the maps so hot paths skip work.
absl::Status Gate::RecomputeFlags() {
  uint32_t kill = 0, unix_protected = 0, armed = 0;
  int qfd = bpf_map__fd(skel_->maps.tg_quarantine);
  uint64_t qk = 0, qn = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(qfd, prev, &qn) == 0) {
    uint32_t m = 0;
    armed = 1;
    if (bpf_map_lookup_elem(qfd, &qn, &m) == 0 && (m & TG_QUARANTINE_KILL)) kill = 1;
    qk = qn;
    prev = &qk;
  }
  int ufd = bpf_map__fd(skel_->maps.tg_unix_targets);
  tg_unix_key uk{}, un{};
  prev = nullptr;
  while (bpf_map_get_next_key(ufd, prev, &un) == 0) {
    tg_target_val v{};
    if (bpf_map_lookup_elem(ufd, &un, &v) == 0 && v.kind == TG_TARGET_PROTECT) unix_protected = 1;
    uk = un;
    prev = &uk;
  }
  return WriteConfig([&](void* p) {
    auto* c = static_cast<tg_config*>(p);
    c->kill_armed = kill || (c->quarantine_all & TG_QUARANTINE_KILL);
    c->unix_protected = unix_protected;
    c->quarantine_armed = armed;
  });
}

absl::StatusOr<std::map<std::string, uint64_t>> Gate::Counters() const {
  static const char* kNames[TG_CNT_MAX] = {
      "checked", "allow_grant", "deny", "deny_expired", "deny_quarantine",
      "deny_raw", "skb_dropped", "kill", "events_lost"};
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
                                 "connect_unix", "sendmsg_unix", "sock_create", "sys_enter"};
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
  if (raw.family == AF_INET || raw.family == AF_INET6) {
    e.address = IpToString(raw.family, raw.addr);
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
  poll_fn_ = &fn;
  int n = ring_buffer__poll(ring_, timeout_ms);
  poll_fn_ = nullptr;
  if (n < 0 && n != -EINTR) return ErrnoStatus(-n, "ring_buffer__poll");
  return n < 0 ? 0 : n;
}

}  // namespace taogate::bpf
