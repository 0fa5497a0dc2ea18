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
#include "taogate/common/path.h"
#include "taogate/policies/bundle.h"
#include "taogate/target/target.h"

namespace taogate::policies {

enum class TargetKind : uint8_t { kTcp, kUdp, kUnix, kFile, kExec };

// The policy form of one request's target (what Evaluate matches). Text
// form: target::Parse(Form::kDestination) / target::Format, e.g.
//   tcp:10.0.0.5:5432   udp:[fd00::53]:53   unix:/run/pg/.s.PGSQL.5432
//   file:/etc/secrets/db.key   exec:/usr/bin/psql
struct TargetRef {
  TargetKind kind = TargetKind::kTcp;
  std::string address;  // IP literal (tcp/udp), no brackets, canonical
  std::string host_name;  // or (tcp/udp, address empty) a canonical DNS name
  uint16_t port = 0;    // tcp/udp
  std::string path;     // unix/file/exec: absolute, canonical
};

// target::Target (a single destination) <-> the policy form.
TargetRef ToTargetRef(const target::Target& t);
absl::StatusOr<target::Target> ToTarget(const TargetRef& r);

// target::Parse(text, Form::kDestination), in the policy form.
absl::StatusOr<TargetRef> ParseTargetRef(std::string_view text);
std::string FormatTargetRef(const TargetRef& t);  // target::Format; "?" if malformed

// IP addresses are target::Ip (IPv4-mapped IPv6 parses as the IPv4 host:
// agents normalise the same way in their connect6/sendmsg6 hooks).
using IpAddress = target::Ip;
using target::ParseIp;
// "10.0.0.0/8", "fd00::/64": target::ParseCidr(CidrForm::kExact).
absl::StatusOr<NetRange> ParseCidr(std::string_view text);

// The `cidrs` keyword for "every address of the node" (agent/.../node_addresses.h).
inline constexpr std::string_view kNodeCidr = "node";
// `cidrs` entry -> ranges: a CIDR gives one; `node` gives the two loopback
// ranges with NetRange::node set.
absl::StatusOr<std::vector<NetRange>> ParseCidrOrNode(std::string_view text);
// A range as a ProtectedTarget cidr: "node", or "10.0.0.0/8".
std::string CidrText(const NetRange& r);

bool CidrContains(const NetRange& r, const IpAddress& ip);

using target::IsCanonicalPath;

using taogate::PathUnder;  // common/path.h

// The protected-target part of a bundle, flattened for agents. Every entry
// carries its target id so agents can report which target a denial hit.
// A `node` entry appears once (range.node set, the 127.0.0.0/8 twin): send
// it to agents as cidr "node", never as its loopback range.
struct ProtectedTargetSet {
  // audit: the target's `mode: audit` (ProtectedTarget.audit).
  struct Net {
    std::string target_id;
    NetRange range;
    bool audit = false;
  };
  struct Path {
    std::string target_id;
    std::string path;
    bool prefix = false;  // a directory: the path and everything below it
    bool audit = false;
  };
  std::vector<Net> networks;
  struct Name {  // send as ProtectedTarget.host_name, cidr empty
    std::string target_id;
    NameRange range;
    bool audit = false;
  };
  std::vector<Name> names;
  std::vector<Path> unix_paths;
  std::vector<Path> file_paths;
  std::vector<Path> binaries;
};

}  // namespace taogate::policies
