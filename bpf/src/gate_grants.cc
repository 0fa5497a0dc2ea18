// One-shot grants: single destinations and sets (a named TAO's addresses).
// Every map write is checked; a failure is an error for the caller. The
// kernel side is gate.bpf.c consume_grant(); the layouts gate_format.h.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "gate_bpf.skel.h"
#include "gate_internal.h"
#include "target.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/clock.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

uint64_t MonoNowNs() { return static_cast<uint64_t>(RealClock().MonoNs()); }

// The token entry of a grant set: family 0 is never a destination's.
tg_grant_key TokenKey(uint64_t cgroup_id, const uint8_t* tao_id) {
  tg_grant_key k{};
  k.cgroup_id = cgroup_id;
  std::memcpy(k.addr, tao_id, 16);
  return k;
}
bool IsToken(const tg_grant_key& k) { return k.family == 0; }
bool IsToken(const tg_unix_grant_key&) { return false; }

// A grant that can still admit a connect: unused, unexpired and, for a set
// member, its set's token unused too.
bool Live(int grants_fd, uint64_t cgroup_id, const tg_grant_val& v, uint64_t now) {
  if (v.state != 0 || v.expiry_ns <= now) return false;
  if ((v.flags & TG_GRANT_SHARED) == 0) return true;
  tg_grant_key tk = TokenKey(cgroup_id, v.tao_id);
  tg_grant_val t{};
  return bpf_map_lookup_elem(grants_fd, &tk, &t) == 0 && t.state == 0 && t.expiry_ns > now;
}

// BPF_NOEXIST: never overwrite a live grant (consume_grant relies on it). A
// dead one (consumed, expired, or of a spent set; not yet swept) is removed
// first.
absl::Status Put(int fd, int grants_fd, uint64_t cgroup_id, const void* key, const tg_grant_val& v) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (bpf_map_update_elem(fd, key, &v, BPF_NOEXIST) == 0) return absl::OkStatus();
    if (errno != EEXIST) return ErrnoStatus(errno, "install grant");
    tg_grant_val old{};
    if (bpf_map_lookup_elem(fd, key, &old) == 0 && Live(grants_fd, cgroup_id, old, MonoNowNs())) {
      return absl::AlreadyExistsError("an unused grant for this cgroup and target is pending");
    }
    if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "remove dead grant");
    }
  }
  return absl::AbortedError("grant slot contended; retry");
}

tg_grant_val Value(const TaoId& tao_id, uint64_t expiry_mono_ns, uint32_t flags) {
  tg_grant_val v{};
  std::memcpy(v.tao_id, tao_id.data(), 16);
  v.expiry_ns = expiry_mono_ns;
  v.flags = flags;
  return v;
}

}  // namespace

absl::Status Gate::InstallGrant(uint64_t cgroup_id, const target::Target& dest, const TaoId& tao_id,
                                uint64_t expiry_mono_ns) {
  if (cgroup_id == 0) return absl::InvalidArgumentError("grant needs a workload cgroup id");
  if (expiry_mono_ns <= MonoNowNs()) return absl::InvalidArgumentError("grant already expired");
  const tg_grant_val v = Value(tao_id, expiry_mono_ns, 0);
  const int grants_fd = bpf_map__fd(skel_->maps.tg_grants);
  if (dest.proto == target::Proto::kUnix) {
    tg_unix_grant_key k{};
    TG_ASSIGN_OR_RETURN(k.path, internal::UnixKey(dest.path));
    k.cgroup_id = cgroup_id;
    return Put(bpf_map__fd(skel_->maps.tg_unix_grants), grants_fd, cgroup_id, &k, v);
  }
  TG_ASSIGN_OR_RETURN(tg_grant_key k, internal::IpGrantKey(cgroup_id, dest));
  return Put(grants_fd, grants_fd, cgroup_id, &k, v);
}

absl::Status Gate::InstallGrantSet(uint64_t cgroup_id, const std::vector<target::Target>& dests,
                                   const TaoId& tao_id, uint64_t expiry_mono_ns) {
  if (dests.empty()) return absl::InvalidArgumentError("a grant set needs at least one destination");
  if (dests.size() > kMaxGrantSet) {
    return absl::InvalidArgumentError(StrCat("a grant set has at most ", kMaxGrantSet, " destinations, not ",
                                             dests.size()));
  }
  if (dests.size() == 1) return InstallGrant(cgroup_id, dests[0], tao_id, expiry_mono_ns);
  if (cgroup_id == 0) return absl::InvalidArgumentError("grant needs a workload cgroup id");
  if (expiry_mono_ns <= MonoNowNs()) return absl::InvalidArgumentError("grant already expired");
  std::vector<tg_grant_key> keys;
  for (const target::Target& d : dests) {
    if (d.proto != dests[0].proto || d.port_lo != dests[0].port_lo) {
      return absl::InvalidArgumentError("a grant set is for one protocol and port");
    }
    TG_ASSIGN_OR_RETURN(tg_grant_key k, internal::IpGrantKey(cgroup_id, d));
    keys.push_back(k);
  }
  const int fd = bpf_map__fd(skel_->maps.tg_grants);
  // The token first: a member is worthless without it, so no connect can pass
  // before the whole set is in place... and none after the first.
  const tg_grant_key token = TokenKey(cgroup_id, tao_id.data());
  TG_RETURN_IF_ERROR(Put(fd, fd, cgroup_id, &token, Value(tao_id, expiry_mono_ns, 0)));
  const tg_grant_val member = Value(tao_id, expiry_mono_ns, TG_GRANT_SHARED);
  for (size_t i = 0; i < keys.size(); ++i) {
    absl::Status st = Put(fd, fd, cgroup_id, &keys[i], member);
    if (st.ok()) continue;
    // Roll back: the token goes first, which voids any member still in place.
    // (void): an entry already gone (swept, consumed) is the goal.
    (void)bpf_map_delete_elem(fd, &token);
    for (size_t j = 0; j < i; ++j) (void)bpf_map_delete_elem(fd, &keys[j]);
    return st;
  }
  return absl::OkStatus();
}

absl::Status Gate::RevokeGrant(uint64_t cgroup_id, const target::Target& dest) {
  if (dest.proto == target::Proto::kUnix) {
    tg_unix_grant_key k{};
    TG_ASSIGN_OR_RETURN(k.path, internal::UnixKey(dest.path));
    k.cgroup_id = cgroup_id;
    if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_unix_grants), &k) != 0) {
      return errno == ENOENT ? absl::NotFoundError("no such grant") : ErrnoStatus(errno, "revoke");
    }
    return absl::OkStatus();
  }
  TG_ASSIGN_OR_RETURN(tg_grant_key k, internal::IpGrantKey(cgroup_id, dest));
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_grants), &k) != 0) {
    return errno == ENOENT ? absl::NotFoundError("no such grant") : ErrnoStatus(errno, "revoke");
  }
  return absl::OkStatus();
}

namespace {
// Counts the live destination grants of one map in *live (tokens are not
// destinations) and, unless count_only, deletes the dead entries.
template <typename Key>
absl::StatusOr<size_t> SweepMap(int fd, int grants_fd, bool count_only, size_t* live) {
  const uint64_t now = MonoNowNs();
  std::vector<Key> dead;
  Key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    tg_grant_val v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
      if (IsToken(next)) {
        if (v.state != 0 || v.expiry_ns <= now) dead.push_back(next);
      } else if (Live(grants_fd, next.cgroup_id, v, now)) {
        ++*live;
      } else {
        dead.push_back(next);
      }
    }
    key = next;
    prev = &key;
  }
  if (count_only) return size_t{0};
  // (void): an entry consumed and deleted by the kernel meanwhile is gone anyway.
  for (const Key& k : dead) (void)bpf_map_delete_elem(fd, &k);
  return dead.size();
}
}  // namespace

absl::StatusOr<size_t> Gate::SweepExpiredGrants() {
  size_t live = 0;
  const int fd = bpf_map__fd(skel_->maps.tg_grants);
  TG_ASSIGN_OR_RETURN(size_t a, SweepMap<tg_grant_key>(fd, fd, false, &live));
  TG_ASSIGN_OR_RETURN(size_t b, SweepMap<tg_unix_grant_key>(bpf_map__fd(skel_->maps.tg_unix_grants), fd, false, &live));
  return a + b;
}

absl::StatusOr<size_t> Gate::GrantCount() {
  size_t live = 0;
  const int fd = bpf_map__fd(skel_->maps.tg_grants);
  TG_RETURN_IF_ERROR(SweepMap<tg_grant_key>(fd, fd, true, &live).status());
  TG_RETURN_IF_ERROR(SweepMap<tg_unix_grant_key>(bpf_map__fd(skel_->maps.tg_unix_grants), fd, true, &live).status());
  return live;
}

}  // namespace taogate::bpf
