// Read-only questions about the gate's maps: which target entry decides a
// destination, and the quarantine state (contract in gate.h).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>

#include "gate_bpf.skel.h"
#include "target.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"

namespace taogate::bpf {

std::optional<TargetKind> Gate::LookupTarget(const target::Target& dest) const {
  if (dest.proto == target::Proto::kUnix) {
    auto k = internal::UnixKey(dest.path);
    tg_target_val v{};
    if (!k.ok() || bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tg_unix_targets), &*k, &v) != 0) return std::nullopt;
    return static_cast<TargetKind>(v.kind);
  }
  if (!dest.single_destination()) return std::nullopt;
  int fd = bpf_map__fd(dest.prefix.ip.family == 4 ? skel_->maps.tg_targets4 : skel_->maps.tg_targets6);
  uint8_t proto = internal::IpProtos(dest.proto)[0];
  // Exact port first, then the any-port entry (as the hook does).
  for (uint16_t port : {dest.port_lo, uint16_t{0}}) {
    internal::LpmKey k = internal::MakeLpmKey(dest.prefix, proto, port);
    tg_target_val v{};
    if (bpf_map_lookup_elem(fd, k.data(), &v) == 0) return static_cast<TargetKind>(v.kind);
  }
  return std::nullopt;
}

bool Gate::IsProtected(const target::Target& dest) const {
  std::optional<TargetKind> kind = LookupTarget(dest);
  if (options_.mode == Mode::kDenyAllExceptAllowlisted) return kind != TargetKind::kAllow;
  return kind == TargetKind::kProtect || kind == TargetKind::kAudit;
}

absl::StatusOr<uint64_t> Gate::QuarantinedCount() const {
  int fd = bpf_map__fd(skel_->maps.tg_quarantine);
  uint64_t key = 0, next = 0, n = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    ++n;
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "iterate quarantine map");
  return n;
}

absl::StatusOr<std::vector<uint64_t>> Gate::AuditedWorkloads() const {
  int fd = bpf_map__fd(skel_->maps.tg_audit);
  uint64_t key = 0, next = 0;
  std::vector<uint64_t> out;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "iterate audit map");
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<bool> Gate::QuarantineAllEngaged() const {
  uint32_t zero = 0;
  tg_config c{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tg_config), &zero, &c) != 0) {
    return ErrnoStatus(errno, "read tg_config");
  }
  return c.quarantine_all != 0;
}

}  // namespace taogate::bpf
