// Gate map programming: targets, quarantine and config (grants: gate_grants.cc). Every map write is checked; a failure is an
// error for the caller, never silently ignored.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gate_bpf.skel.h"
#include "gate_internal.h"
#include "hooks.h"
#include "target.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

// Calls fn(map_fd, key bytes, proto, port) for every LPM key a target
// expands to.
using LpmFn = std::function<absl::Status(int, const void*, uint8_t, uint16_t)>;
absl::Status ForEachLpmKey(gate_bpf* skel, const target::Target& t, const LpmFn& fn) {
  if (!t.network() || t.host != target::Host::kPrefix) {
    return absl::InvalidArgumentError(StrCat("not an IP target: ", target::Format(t)));
  }
  TG_ASSIGN_OR_RETURN(std::vector<uint16_t> ports, internal::ExpandPorts(t.port_lo, t.port_hi));
  int fd = bpf_map__fd(t.prefix.ip.family == 4 ? skel->maps.tg_targets4 : skel->maps.tg_targets6);
  for (uint8_t proto : internal::IpProtos(t.proto)) {
    for (uint16_t port : ports) {
      internal::LpmKey k = internal::MakeLpmKey(t.prefix, proto, port);
      TG_RETURN_IF_ERROR(fn(fd, k.data(), proto, port));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// tg_target_ports / anyport_targets must stay a superset of the tries (the
// hook skips the tries on a miss): count up before inserting a new key and
// down only after deleting one. targets_mu_ serializes the read-modify-write.
absl::Status Gate::CountPort(uint8_t proto, uint16_t port, int delta) {
  if (port == 0) {
    return WriteConfig([&](void* p) {
      auto* c = static_cast<tg_config*>(p);
      c->anyport_targets = static_cast<uint32_t>(static_cast<int>(c->anyport_targets) + delta);
    });
  }
  int fd = bpf_map__fd(skel_->maps.tg_target_ports);
  tg_port_key k{port, proto, 0};
  uint32_t n = 0;
  if (bpf_map_lookup_elem(fd, &k, &n) != 0) n = 0;
  n = static_cast<uint32_t>(static_cast<int>(n) + delta);
  if (n == 0) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) return ErrnoStatus(errno, "port count");
  } else if (bpf_map_update_elem(fd, &k, &n, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "port count");
  }
  return absl::OkStatus();
}

absl::Status Gate::AddTarget(const target::Target& t, TargetKind kind) {
  tg_target_val v{static_cast<uint32_t>(kind), 0};
  std::lock_guard<std::mutex> lock(targets_mu_);
  if (t.proto == target::Proto::kUnix) {
    TG_ASSIGN_OR_RETURN(tg_unix_key k, internal::UnixKey(t.path));
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.tg_unix_targets), &k, &v, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "add unix target " + t.path);
    }
    return RecomputeFlags();
  }
  return ForEachLpmKey(skel_, t, [&](int fd, const void* key, uint8_t proto, uint16_t port) {
    tg_target_val old{};
    bool exists = bpf_map_lookup_elem(fd, key, &old) == 0;
    if (!exists) TG_RETURN_IF_ERROR(CountPort(proto, port, +1));
    if (bpf_map_update_elem(fd, key, &v, BPF_ANY) != 0) {
      absl::Status err = ErrnoStatus(errno, "add target " + target::Format(t));
      // Undoes the +1 above; the update's error is what the caller needs, and
      // a count left one high only keeps the port prefilter on (fail closed).
      if (!exists) (void)CountPort(proto, port, -1);
      return err;
    }
    return absl::OkStatus();
  });
}

absl::Status Gate::RemoveTarget(const target::Target& t) {
  std::lock_guard<std::mutex> lock(targets_mu_);
  if (t.proto == target::Proto::kUnix) {
    TG_ASSIGN_OR_RETURN(tg_unix_key k, internal::UnixKey(t.path));
    if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_unix_targets), &k) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "remove unix target " + t.path);
    }
    return RecomputeFlags();
  }
  return ForEachLpmKey(skel_, t, [&](int fd, const void* key, uint8_t proto, uint16_t port) {
    if (bpf_map_delete_elem(fd, key) != 0) {
      return errno == ENOENT ? absl::OkStatus() : ErrnoStatus(errno, "remove target " + target::Format(t));
    }
    return CountPort(proto, port, -1);
  });
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

// The count lives in tg_config.audit_armed so the hook skips the lookup
// while no workload is audited: raised before the first entry goes in,
// lowered after the last one went (never a moment it undercounts).
absl::Status Gate::SetAuditWorkload(uint64_t cgroup_id, bool on) {
  std::lock_guard<std::mutex> lock(targets_mu_);
  int fd = bpf_map__fd(skel_->maps.tg_audit);
  if (on) {
    TG_RETURN_IF_ERROR(WriteConfig([](void* p) { static_cast<tg_config*>(p)->audit_armed = 1; }));
    uint32_t one = 1;
    if (bpf_map_update_elem(fd, &cgroup_id, &one, BPF_ANY) != 0) return ErrnoStatus(errno, "audit workload");
    return absl::OkStatus();
  }
  if (bpf_map_delete_elem(fd, &cgroup_id) != 0 && errno != ENOENT) return ErrnoStatus(errno, "end audit");
  uint64_t any = 0;
  if (bpf_map_get_next_key(fd, nullptr, &any) == 0) return absl::OkStatus();
  return WriteConfig([](void* p) { static_cast<tg_config*>(p)->audit_armed = 0; });
}

absl::Status Gate::QuarantineAll(QuarantineMode mode) {
  bool kill = static_cast<uint32_t>(mode) & TG_QUARANTINE_KILL;
  // Hooks before arming (an attach-only pass never detaches anything).
  TG_RETURN_IF_ERROR(SyncOnDemandHooks(internal::DemandState{true, kill, false}, /*attach=*/true));
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
  std::lock_guard<std::mutex> demand_lock(demand_mu_);
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
  tg_config cur{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tg_config), &zero, &cur) != 0) {
    return ErrnoStatus(errno, "read tg_config");
  }
  bool quarantined = armed || cur.quarantine_all;
  bool kill_armed = kill || (cur.quarantine_all & TG_QUARANTINE_KILL);
  internal::DemandState want{quarantined, kill_armed, cur.inodes_protected != 0};
  TG_RETURN_IF_ERROR(SyncOnDemandHooks(want, /*attach=*/true));
  TG_RETURN_IF_ERROR(WriteConfig([&](void* p) {
    auto* c = static_cast<tg_config*>(p);
    c->kill_armed = kill_armed;
    c->unix_protected = unix_protected;
    c->quarantine_armed = armed;
  }));
  return SyncOnDemandHooks(want, /*attach=*/false);
}

}  // namespace taogate::bpf
