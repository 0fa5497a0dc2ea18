// taogate::target: the one value type for "a place a workload may reach" --
// a network destination (proto, address, ports) or a path (unix socket,
// file, binary) -- with its one text grammar, its canonical text form and
// its proto forms (target_proto.h). Every layer above (policies, bpf, agent,
// governance, cli) parses and prints targets only through this header;
// kernel keys are built from it only in bpf/.
//
// Text grammar (one grammar, two forms; Parse says which is wanted):
//
//   PROTO ":" HOST ":" PORTS       PROTO = tcp | udp | any
//   PROTO ":" PATH                 PROTO = unix | file | exec
//   HOST  = IPv4 | "[" IPv6 "]" | CIDR | "[" IPv6 "]/" LEN | "[" IPv6 "/" LEN "]"
//         | "node" | NAME
//   NAME  = a DNS name (tcp/udp only; grammar below)
//   PORTS = PORT | PORT "-" PORT | "*"
//
// Form::kDestination (what a request or a TAO names: exactly one place):
//   tcp:10.0.0.5:5432   udp:[fd00::53]:53   unix:/run/pg/.s.PGSQL.5432
//   file:/etc/secrets/db.key   exec:/usr/bin/psql
//   tcp/udp only, one IP literal (IPv6 bracketed), one port 1-65535;
//   paths absolute and canonical (no empty, "." or ".." component, no
//   trailing '/').
// Form::kProtected (what a node protects: agent config, kernel gate):
//   tcp:10.0.0.0/8:5432   udp:[::1]/128:53   any:127.0.0.1:1000-2000
//   tcp:10.1.2.3:*   tcp:node:5432   unix:/run/postgresql/.s.PGSQL.5432
//   tcp/udp/any with a CIDR (host bits cleared, no /LEN = one host), the
//   `node` keyword (every address of the node, node_addresses.h in agent/),
//   a port, a range or `*`; unix with any non-empty path.
//
// Addresses: IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 host a.b.c.d (a
// dual-stack socket reaches that host, so it must match, and be denied as,
// that host); ::ffff:0:0/96+n is the IPv4 prefix /n. IPv4-compatible
// (::a.b.c.d) stays IPv6.
//
// Names (issue 16, docs/names.md): `tcp:db.prod.internal:5432` in both forms
// (protected: a port, a range or `*`), tcp and udp only, as Host::kName with
// Target::name in canonical form. NAME is a strict RFC 1123 host name:
// labels of 1-63 letters, digits and '-' (not first or last), separated by
// '.', at least two labels (a single label would depend on a resolver's
// search list, and keeps `node` unambiguous), at most 253 characters, the
// last label not all digits (so nothing that inet_aton could read as an
// address is a name). Canonical form: lowercase, no trailing dot (one is
// accepted and stripped). No wildcards, no '_', no brackets, no /LEN.
// A name never matches an IP and an IP never matches a name: nothing here
// resolves. The kernel gate holds only IP targets (bpf/ refuses a kName
// target); agents refuse names until they resolve them.
//
// Pure functions and plain values; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace taogate::target {

enum class Proto : uint8_t { kTcp, kUdp, kAny, kUnix, kFile, kExec };

struct Ip {
  uint8_t family = 4;               // 4 or 6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 in bytes[0..3]
  bool operator==(const Ip&) const = default;
};

// An address prefix; host bits are zero. A host is len 32 or 128.
struct Prefix {
  Ip ip;
  uint8_t len = 0;
  bool operator==(const Prefix&) const = default;
};

enum class Host : uint8_t { kPrefix, kNode, kName };

struct Target {
  Proto proto = Proto::kTcp;
  // Network targets (tcp/udp/any) only:
  Host host = Host::kPrefix;
  Prefix prefix;                      // Host::kPrefix
  std::string name;                   // Host::kName: canonical (ParseHostName)
  uint16_t port_lo = 0, port_hi = 0;  // 0..0 = every port
  // unix/file/exec only:
  std::string path;

  bool network() const { return proto == Proto::kTcp || proto == Proto::kUdp || proto == Proto::kAny; }
  bool every_port() const { return port_lo == 0 && port_hi == 0; }
  // One IP, one protocol, one port: what a grant opens.
  bool single_destination() const;
  // One place, one protocol, one port: single_destination() or a tcp/udp
  // name with one port (what a request or a TAO may name).
  bool one_destination() const;
  bool operator==(const Target&) const = default;
};

enum class Form { kDestination, kProtected };

absl::StatusOr<Target> Parse(std::string_view text, Form form);
// Canonical text: parses back (in the form it came from) to an equal value.
// Addresses in inet_ntop form, IPv6 bracketed, "/LEN" only on a prefix that
// is not one host, every port as "*", a range as "LO-HI".
std::string Format(const Target& t);

// A DNS name (grammar above) -> its canonical form; InvalidArgument saying
// what is wrong otherwise.
inline constexpr size_t kMaxHostName = 253;
absl::StatusOr<std::string> ParseHostName(std::string_view text);
// A name as the wire carries it (a request's or TAO's address, a protected
// entry's host_name): it must already be canonical, so what is signed is
// exactly what a policy matched. InvalidArgument otherwise.
absl::Status CheckCanonicalHostName(std::string_view name);

// An IP literal, no brackets, at most 45 characters.
absl::StatusOr<Ip> ParseIp(std::string_view text);
std::string FormatIp(const Ip& ip);  // inet_ntop form

enum class CidrForm {
  kExact,    // ADDR/LEN required, host bits must be zero (policy bundles)
  kLenient,  // no /LEN = one host, host bits cleared, ::ffff:0:0/96+n = IPv4 /n
};
absl::StatusOr<Prefix> ParseCidr(std::string_view text, CidrForm form);
std::string FormatPrefix(const Prefix& p);  // "10.0.0.0/8", "::1/128"
bool Contains(const Prefix& p, const Ip& ip);  // families never mix
Prefix HostPrefix(const Ip& ip);
// True if the protected entry `entry` (Host::kPrefix; any covers tcp and
// udp; every port or a range) covers the single destination `dest`: same
// protocol, its address in the prefix, its port in the range; unix: the
// same path. A node or named entry covers nothing until expanded.
bool Covers(const Target& entry, const Target& dest);

// Port ranges and path rules the kernel can hold.
inline constexpr uint32_t kMaxPortsPerTarget = 4096;  // wider: use `*`
inline constexpr size_t kMaxPathLength = 4095;
inline constexpr size_t kMaxUnixPath = 107;  // sun_path minus its NUL
// {lo, hi} normalised: 0-65535 and 1-65535 are "every port" (0, 0).
// InvalidArgument for lo = 0 < hi, hi < lo, or a range wider than
// kMaxPortsPerTarget.
absl::Status CheckPortRange(uint32_t lo, uint32_t hi);
bool IsEveryPort(uint32_t lo, uint32_t hi);

// Absolute, at most kMaxPathLength bytes, no NUL, no empty, "." or ".."
// component; a trailing '/' only if allow_trailing_slash.
bool IsCanonicalPath(std::string_view p, bool allow_trailing_slash);

std::string_view ProtoName(Proto p);  // "tcp", "udp", "any", "unix", "file", "exec"

}  // namespace taogate::target
