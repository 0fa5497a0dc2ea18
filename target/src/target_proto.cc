// target::Target <-> v1::Target / v1::ProtectedTarget (contract in
// target_proto.h).
#include "taogate/target/target_proto.h"

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::target {
namespace {

absl::StatusOr<Proto> FromProtoKind(v1::TargetProto p) {
  switch (p) {
    case v1::TARGET_PROTO_TCP: return Proto::kTcp;
    case v1::TARGET_PROTO_UDP: return Proto::kUdp;
    case v1::TARGET_PROTO_UNIX: return Proto::kUnix;
    case v1::TARGET_PROTO_FILE: return Proto::kFile;
    case v1::TARGET_PROTO_EXEC: return Proto::kExec;
    default: return absl::InvalidArgumentError("target.proto is required");
  }
}

}  // namespace

v1::TargetProto ToProtoKind(Proto p) {
  switch (p) {
    case Proto::kTcp: return v1::TARGET_PROTO_TCP;
    case Proto::kUdp: return v1::TARGET_PROTO_UDP;
    case Proto::kUnix: return v1::TARGET_PROTO_UNIX;
    case Proto::kFile: return v1::TARGET_PROTO_FILE;
    case Proto::kExec: return v1::TARGET_PROTO_EXEC;
    case Proto::kAny: break;
  }
  return v1::TARGET_PROTO_UNSPECIFIED;
}

absl::StatusOr<Target> FromProto(const v1::Target& t) {
  Target out;
  TG_ASSIGN_OR_RETURN(out.proto, FromProtoKind(t.proto()));
  if (out.network()) {
    if (t.port() == 0 || t.port() > 65535 || !t.path().empty())
      return absl::InvalidArgumentError("target: tcp/udp needs a port 1-65535 and no path");
    // The address field carries an IP literal or a DNS name, exactly as
    // Parse gives it: a name must be canonical, so what is signed is what
    // the policy matched.
    if (t.address().find(':') != std::string::npos) {  // IPv6: Parse wants brackets
      auto ip = ParseIp(t.address());
      if (!ip.ok()) return absl::InvalidArgumentError(StrCat("target: ", ip.status().message()));
      out.prefix = HostPrefix(*ip);
    } else {
      auto t2 = Parse(StrCat(ProtoName(out.proto), ":", t.address(), ":1"), Form::kDestination);
      absl::Status st = t2.ok() && t2->host == Host::kName ? CheckCanonicalHostName(t.address()) : t2.status();
      if (!st.ok()) return absl::InvalidArgumentError(StrCat("target: ", st.message()));
      out.host = t2->host;
      out.prefix = t2->prefix;
      out.name = t2->name;
    }
    out.port_lo = out.port_hi = static_cast<uint16_t>(t.port());
    return out;
  }
  if (t.port() != 0 || !t.address().empty())
    return absl::InvalidArgumentError("target: a path target has no address or port");
  if (t.path().empty()) return absl::InvalidArgumentError("target: a path target needs a path");
  out.path = t.path();
  return out;
}

v1::Target ToProto(const Target& t) {
  v1::Target out;
  out.set_proto(ToProtoKind(t.proto));
  if (t.network()) {
    out.set_address(t.host == Host::kName ? t.name : FormatIp(t.prefix.ip));
    out.set_port(t.port_lo);
  } else {
    out.set_path(t.path);
  }
  return out;
}

absl::StatusOr<Target> FromProto(const v1::ProtectedTarget& t) {
  Target out;
  TG_ASSIGN_OR_RETURN(out.proto, FromProtoKind(t.proto()));
  if (!out.network()) {
    out.path = t.path();
    return out;
  }
  if (!t.host_name().empty()) {
    // A named entry (issue 16): the name in canonical form, no cidr.
    if (!t.cidr().empty()) return absl::InvalidArgumentError("target: a named entry has no cidr");
    if (absl::Status st = CheckCanonicalHostName(t.host_name()); !st.ok())
      return absl::InvalidArgumentError(StrCat("target: ", st.message()));
    out.name = t.host_name();
    out.host = Host::kName;
  } else if (t.cidr() == "node") {
    out.host = Host::kNode;
  } else {
    TG_ASSIGN_OR_RETURN(out.prefix, ParseCidr(t.cidr(), CidrForm::kLenient));
  }
  TG_RETURN_IF_ERROR(CheckPortRange(t.port_from(), t.port_to()));
  if (!IsEveryPort(t.port_from(), t.port_to())) {
    out.port_lo = static_cast<uint16_t>(t.port_from());
    out.port_hi = static_cast<uint16_t>(t.port_to());
  }
  return out;
}

}  // namespace taogate::target
