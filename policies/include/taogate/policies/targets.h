// Targets: what a request names (TargetRef), what a bundle protects
// (NetRange / paths in bundle.h) and the flat export agents compile into BPF
// maps (ProtectedTargetSet). Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/policies/bundle.h"

namespace taogate::policies {

enum class TargetKind : uint8_t { kTcp, kUdp, kUnix, kFile, kExec };

// A concrete target of one request. Text form (ParseTargetRef / Format):
//   tcp:10.0.0.5:5432   udp:[fd00::53]:53   unix:/run/pg/.s.PGSQL.5432
//   file:/etc/secrets/db.key   exec:/usr/bin/psql
struct TargetRef {
  TargetKind kind = TargetKind::kTcp;
  std::string address;  // IP literal (tcp/udp), no brackets
  uint16_t port = 0;    // tcp/udp
  std::string path;     // unix/file/exec: absolute, canonical
};

absl::StatusOr<TargetRef> ParseTargetRef(std::string_view text);
std::string FormatTargetRef(const TargetRef& t);

struct IpAddress {
  uint8_t family = 4;              // 4 or 6
  std::array<uint8_t, 16> bytes{};  // v4 in bytes[0..3]
};
// IPv4-mapped IPv6 (::ffff:a.b.c.d) parses as the IPv4 address a.b.c.d: it
// reaches that host, so it must match (and be denied as) that host. Agents
// must normalise the same way in their connect6/sendmsg6 hooks.
absl::StatusOr<IpAddress> ParseIp(std::string_view text);
// "10.0.0.0/8", "fd00::/64": host bits must be zero.
absl::StatusOr<NetRange> ParseCidr(std::string_view text);

// The `cidrs` keyword for "every address of the node" (agent/.../node_addresses.h).
inline constexpr std::string_view kNodeCidr = "node";
// `cidrs` entry -> ranges: a CIDR gives one; `node` gives the two loopback
// ranges with NetRange::node set.
absl::StatusOr<std::vector<NetRange>> ParseCidrOrNode(std::string_view text);

bool CidrContains(const NetRange& r, const IpAddress& ip);

// Absolute, no empty, "." or ".." components, no NUL; a trailing '/' is allowed
// only if `allow_trailing_slash`.
bool IsCanonicalPath(std::string_view p, bool allow_trailing_slash);

// True if `path` is `prefix` or lies below it (component boundary), for
// cgroup paths and directory targets. `prefix` may end in '/'.
bool PathUnder(std::string_view path, std::string_view prefix);

// The protected-target part of a bundle, flattened for agents. Every entry
// carries its target id so agents can report which target a denial hit.
// A `node` entry appears once (range.node set, the 127.0.0.0/8 twin): send
// it to agents as cidr "node", never as its loopback range.
struct ProtectedTargetSet {
  struct Net {
    std::string target_id;
    NetRange range;
  };
  struct Path {
    std::string target_id;
    std::string path;
    bool prefix = false;  // a directory: the path and everything below it
  };
  std::vector<Net> networks;
  std::vector<Path> unix_paths;
  std::vector<Path> file_paths;
  std::vector<Path> binaries;
};

}  // namespace taogate::policies
