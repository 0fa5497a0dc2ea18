// Parsing and key encoding for targets and grants (internal). See
// gate_format.h for the key layouts.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/status.h"

namespace taogate::bpf::internal {

// A port range wider than this must be "every port" (one LPM entry per port).
inline constexpr uint32_t kMaxPortsPerTarget = 4096;

struct IpAddr {
  int family = 0;                  // AF_INET (bytes[0..3]) or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order
};
struct Prefix {
  IpAddr addr;  // host bits cleared
  int len = 0;
};

absl::StatusOr<uint16_t> ParsePort(std::string_view s);
// IPv4-mapped IPv6 addresses come back as AF_INET.
absl::StatusOr<IpAddr> ParseIp(std::string_view text);
absl::StatusOr<Prefix> ParseCidr(std::string_view cidr);
std::string IpToString(int family, const uint8_t* bytes);
// {0} = every port.
absl::StatusOr<std::vector<uint16_t>> ExpandPorts(uint16_t lo, uint16_t hi);
absl::StatusOr<tg_unix_key> UnixKey(std::string_view path);

}  // namespace taogate::bpf::internal
