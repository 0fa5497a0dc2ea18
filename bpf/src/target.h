// Kernel keys of targets and grants (internal), built only here and only
// from target::Target. Layouts: gate_format.h.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "taogate/bpf/gate_format.h"
#include "taogate/common/status.h"
#include "taogate/target/target.h"

namespace taogate::bpf::internal {

// {0} = every port; otherwise every port of lo..hi (at most
// target::kMaxPortsPerTarget).
absl::StatusOr<std::vector<uint16_t>> ExpandPorts(uint16_t lo, uint16_t hi);
// IP protocol numbers a target covers (any = tcp and udp).
std::vector<uint8_t> IpProtos(target::Proto p);
absl::StatusOr<tg_unix_key> UnixKey(std::string_view path);

// One tg_targets4 / tg_targets6 key.
struct LpmKey {
  bool v4 = true;
  tg_lpm4_key k4{};
  tg_lpm6_key k6{};
  const void* data() const { return v4 ? static_cast<const void*>(&k4) : static_cast<const void*>(&k6); }
};
LpmKey MakeLpmKey(const target::Prefix& p, uint8_t proto, uint16_t port);

// The grant key of a single destination (target.single_destination()).
absl::StatusOr<tg_grant_key> IpGrantKey(uint64_t cgroup_id, const target::Target& t);

}  // namespace taogate::bpf::internal
