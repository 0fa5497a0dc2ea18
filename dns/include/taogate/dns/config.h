// The resolver's configuration and where its servers come from.
//
// Servers: `servers` lists the resolvers to ask ("127.0.0.1:5353",
// "[fd00::53]:53", "10.96.0.10" = port 53), in order (the next one is asked
// when one fails or times out). Empty = the `nameserver` lines of
// `resolv_conf` (default /etc/resolv.conf: on Kubernetes the cluster DNS),
// read once at Create; no search domain, ndots or option of that file is
// used: protected names are absolute. No other source of answers exists
// (no /etc/hosts, no system resolver, no cache of ours beyond the current
// sets).
//
// DNSSEC: require_ad refuses every answer whose AD bit is clear (a failure
// of kind no_ad: the name keeps its last addresses). taogate does not
// validate signatures; it trusts the resolver's validation, which is only as
// good as the path to it: Validate refuses require_ad with a server that is
// not loopback unless ad_trusted_path says the operator vouches for that
// path (a node-local validating cache on a link nobody else can write to).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/dns/name_table.h"
#include "taogate/target/target.h"

namespace taogate::dns {

struct Config {
  std::vector<std::string> servers;  // empty = from resolv_conf
  std::string resolv_conf = "/etc/resolv.conf";
  TableOptions table;                // TTL floor/ceiling, retry, caps, jitter
  uint32_t query_timeout_ms = 2000;  // per try, per server
  uint32_t tries = 2;                // per server
  size_t max_inflight = 32;          // names being resolved at once (2 queries each)
  size_t max_names = 10000;
  bool require_ad = false;
  bool ad_trusted_path = false;
};

struct Server {
  target::Ip ip;
  uint16_t port = 53;
  bool operator==(const Server&) const = default;
};

// "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT"; port 1-65535.
absl::StatusOr<Server> ParseServer(std::string_view text);
// The `nameserver` lines of a resolv.conf text, port 53; FailedPrecondition
// when there is none.
absl::StatusOr<std::vector<Server>> ResolvConfServers(std::string_view text);
// config.servers parsed, or resolv_conf read and parsed.
absl::StatusOr<std::vector<Server>> EffectiveServers(const Config& config);
// Ranges and the require_ad trust rule against `servers`.
absl::Status Validate(const Config& config, const std::vector<Server>& servers);

}  // namespace taogate::dns
