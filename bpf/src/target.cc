// The key encodings of targets and grants (gate_format.h).
#include "target.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "taogate/common/strings.h"

namespace taogate::bpf::internal {

absl::StatusOr<std::vector<uint16_t>> ExpandPorts(uint16_t lo, uint16_t hi) {
  if (target::IsEveryPort(lo, hi)) return std::vector<uint16_t>{0};
  TG_RETURN_IF_ERROR(target::CheckPortRange(lo, hi));
  std::vector<uint16_t> out;
  for (uint32_t p = lo; p <= hi; ++p) out.push_back(static_cast<uint16_t>(p));
  return out;
}

std::vector<uint8_t> IpProtos(target::Proto p) {
  if (p == target::Proto::kTcp) return {IPPROTO_TCP};
  if (p == target::Proto::kUdp) return {IPPROTO_UDP};
  return {IPPROTO_TCP, IPPROTO_UDP};
}

absl::StatusOr<tg_unix_key> UnixKey(std::string_view path) {
  if (path.empty() || path.size() > TG_UNIX_PATH_MAX) {
    return absl::InvalidArgumentError(StrCat("bad unix socket path length ", path.size()));
  }
  if (path[0] != '\0' && path.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("unix path contains NUL");
  }
  if (path[0] != '\0' && path[0] != '/') {
    return absl::InvalidArgumentError("unix target paths must be absolute");
  }
  tg_unix_key k{};
  std::memcpy(k.path, path.data(), path.size());
  return k;
}

LpmKey MakeLpmKey(const target::Prefix& p, uint8_t proto, uint16_t port) {
  LpmKey k;
  k.v4 = p.ip.family == 4;
  auto fill = [&](auto& key, size_t n) {
    key.prefixlen = 24 + p.len;
    key.proto = proto;
    key.port_be[0] = static_cast<uint8_t>(port >> 8);
    key.port_be[1] = static_cast<uint8_t>(port & 0xff);
    std::memcpy(key.addr, p.ip.bytes.data(), n);
  };
  if (k.v4) fill(k.k4, 4);
  else fill(k.k6, 16);
  return k;
}

absl::StatusOr<tg_grant_key> IpGrantKey(uint64_t cgroup_id, const target::Target& t) {
  if (t.proto != target::Proto::kTcp && t.proto != target::Proto::kUdp) {
    return absl::InvalidArgumentError("a grant is for exactly one protocol (tcp or udp)");
  }
  if (t.port_lo == 0 || t.port_hi != t.port_lo) return absl::InvalidArgumentError("a grant needs a port");
  if (!t.single_destination()) return absl::InvalidArgumentError("a grant is for one IP address");
  tg_grant_key k{};
  k.cgroup_id = cgroup_id;
  k.proto = IpProtos(t.proto)[0];
  k.family = static_cast<uint8_t>(t.prefix.ip.family == 4 ? AF_INET : AF_INET6);
  k.port = t.port_lo;
  std::memcpy(k.addr, t.prefix.ip.bytes.data(), 16);
  return k;
}

}  // namespace taogate::bpf::internal
