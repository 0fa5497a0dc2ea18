#include "taogate/agent/gate_grants.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <time.h>

#include <cstring>

#include "taogate/bpf/gate_format.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {

int64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

absl::StatusOr<UniqueFd> OpenPinned(const std::string& pin_root, const char* name) {
  std::string path = StrCat(pin_root, "/maps/", name);
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return ErrnoStatus(errno, StrCat("open pinned map ", path));
  return fd;
}

// Parses an IP literal; IPv4-mapped IPv6 becomes IPv4 (as the gate stores it).
bool ParseIp(const std::string& text, int* family, uint8_t addr[16]) {
  std::memset(addr, 0, 16);
  if (inet_pton(AF_INET, text.c_str(), addr) == 1) {
    *family = AF_INET;
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, text.c_str(), &a6) != 1) return false;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    std::memcpy(addr, &a6.s6_addr[12], 4);
    *family = AF_INET;
  } else {
    std::memcpy(addr, a6.s6_addr, 16);
    *family = AF_INET6;
  }
  return true;
}

}  // namespace

absl::StatusOr<bpf::GrantTarget> ToGrantTarget(const v1::Target& t) {
  bpf::GrantTarget g;
  switch (t.proto()) {
    case v1::TARGET_PROTO_TCP: g.proto = bpf::Proto::kTcp; break;
    case v1::TARGET_PROTO_UDP: g.proto = bpf::Proto::kUdp; break;
    case v1::TARGET_PROTO_UNIX:
      if (t.path().empty()) return absl::InvalidArgumentError("unix target without a path");
      g.unix_path = t.path();
      return g;
    default:
      return absl::InvalidArgumentError("the kernel gate grants only tcp, udp and unix targets");
  }
  if (t.port() == 0 || t.port() > 65535) return absl::InvalidArgumentError("target port out of range");
  g.address = t.address();
  g.port = static_cast<uint16_t>(t.port());
  return g;
}

absl::StatusOr<std::unique_ptr<GateGrants>> GateGrants::Create(bpf::Gate& gate, const std::string& pin_root,
                                                               bpf::Mode mode) {
  std::unique_ptr<GateGrants> g(new GateGrants(gate, mode));
  TG_ASSIGN_OR_RETURN(g->targets4_, OpenPinned(pin_root, "tg_targets4"));
  TG_ASSIGN_OR_RETURN(g->targets6_, OpenPinned(pin_root, "tg_targets6"));
  TG_ASSIGN_OR_RETURN(g->unix_targets_, OpenPinned(pin_root, "tg_unix_targets"));
  TG_ASSIGN_OR_RETURN(g->quarantine_, OpenPinned(pin_root, "tg_quarantine"));
  TG_ASSIGN_OR_RETURN(g->config_, OpenPinned(pin_root, "tg_config"));
  return g;
}

uint32_t GateGrants::LookupKind(const v1::Target& t) const {
  bpf::tg_target_val v{};
  if (t.proto() == v1::TARGET_PROTO_UNIX) {
    bpf::tg_unix_key k{};
    if (t.path().empty() || t.path().size() > sizeof(k.path)) return 0;
    std::memcpy(k.path, t.path().data(), t.path().size());
    return bpf_map_lookup_elem(unix_targets_.get(), &k, &v) == 0 ? v.kind : 0;
  }
  uint8_t proto = t.proto() == v1::TARGET_PROTO_TCP ? 6 : t.proto() == v1::TARGET_PROTO_UDP ? 17 : 0;
  int family = 0;
  uint8_t addr[16];
  if (proto == 0 || t.port() == 0 || t.port() > 65535 || !ParseIp(t.address(), &family, addr)) return 0;
  // Exact port first, then the any-port entry (as the hook does).
  for (uint16_t port : {static_cast<uint16_t>(t.port()), uint16_t{0}}) {
    if (family == AF_INET) {
      bpf::tg_lpm4_key k{};
      k.prefixlen = 24 + 32;
      k.proto = proto;
      k.port_be[0] = port >> 8;
      k.port_be[1] = port & 0xff;
      std::memcpy(k.addr, addr, 4);
      if (bpf_map_lookup_elem(targets4_.get(), &k, &v) == 0) return v.kind;
    } else {
      bpf::tg_lpm6_key k{};
      k.prefixlen = 24 + 128;
      k.proto = proto;
      k.port_be[0] = port >> 8;
      k.port_be[1] = port & 0xff;
      std::memcpy(k.addr, addr, 16);
      if (bpf_map_lookup_elem(targets6_.get(), &k, &v) == 0) return v.kind;
    }
  }
  return 0;
}

bool GateGrants::IsProtected(const v1::Target& target) const {
  uint32_t kind = LookupKind(target);
  if (mode_ == bpf::Mode::kDenyAllExceptAllowlisted) return kind != bpf::TG_TARGET_ALLOW;
  return kind == bpf::TG_TARGET_PROTECT;
}

absl::Status GateGrants::InstallGrant(uint64_t cgroup_id, const v1::Target& target, const TaoId& id,
                                      int64_t expires_at_unix_ms) {
  TG_ASSIGN_OR_RETURN(bpf::GrantTarget g, ToGrantTarget(target));
  int64_t remaining_ns = (expires_at_unix_ms * 1'000'000) - ClockNs(CLOCK_REALTIME);
  if (remaining_ns <= 0) return absl::FailedPreconditionError("grant would already be expired");
  uint64_t expiry_mono = static_cast<uint64_t>(ClockNs(CLOCK_MONOTONIC) + remaining_ns);
  return gate_.InstallGrant(cgroup_id, g, id, expiry_mono);
}

absl::StatusOr<uint64_t> GateGrants::QuarantinedCount() const {
  uint64_t key = 0, next = 0, n = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(quarantine_.get(), prev, &next) == 0) {
    ++n;
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "iterate quarantine map");
  return n;
}

absl::StatusOr<bool> GateGrants::QuarantineAllEngaged() const {
  uint32_t zero = 0;
  bpf::tg_config c{};
  if (bpf_map_lookup_elem(config_.get(), &zero, &c) != 0) return ErrnoStatus(errno, "read tg_config");
  return c.quarantine_all != 0;
}

}  // namespace taogate::agent
