// target::Target <-> its proto forms: v1::Target (tao.proto, the one
// destination a request or TAO names) and v1::ProtectedTarget
// (governor.proto, one entry of a node's protected set). Pure; thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "tao.pb.h"
#include "taogate/target/target.h"

namespace taogate::target {

// tcp/udp: an IP literal (no brackets) or a DNS name in canonical form
// (ParseHostName; Host::kName) and a port 1-65535, no path;
// unix/file/exec: a non-empty path, no address or port. InvalidArgument
// ("target: ...") otherwise; the path is not checked for canonical form
// (the governor asks IsCanonicalPath, the gate checks what it can hold).
absl::StatusOr<Target> FromProto(const v1::Target& t);
// A single destination (tcp/udp host or name, and port) or a path target.
v1::Target ToProto(const Target& t);

// tcp/udp: cidr "node" or a CIDR (lenient: no /LEN = one host, host bits
// cleared), or host_name (a canonical DNS name, cidr empty: Host::kName),
// ports via CheckPortRange; unix/file/exec: the path as given.
// Name, path length and printability are the caller's checks.
absl::StatusOr<Target> FromProto(const v1::ProtectedTarget& t);

v1::TargetProto ToProtoKind(Proto p);  // kAny -> TARGET_PROTO_UNSPECIFIED

}  // namespace taogate::target
