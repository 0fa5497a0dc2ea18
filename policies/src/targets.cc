// The policy form of targets over target::Target (contract in targets.h).
#include "taogate/policies/targets.h"

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::policies {
namespace {

target::Prefix PrefixOf(const NetRange& r) {
  target::Prefix p;
  p.ip.family = r.family;
  p.ip.bytes = r.addr;
  p.len = r.prefix_len;
  return p;
}

}  // namespace

TargetRef ToTargetRef(const target::Target& t) {
  TargetRef r;
  switch (t.proto) {
    case target::Proto::kAny:  // not a destination; never produced by Form::kDestination
    case target::Proto::kTcp: r.kind = TargetKind::kTcp; break;
    case target::Proto::kUdp: r.kind = TargetKind::kUdp; break;
    case target::Proto::kUnix: r.kind = TargetKind::kUnix; break;
    case target::Proto::kFile: r.kind = TargetKind::kFile; break;
    case target::Proto::kExec: r.kind = TargetKind::kExec; break;
  }
  if (t.network() && t.host == target::Host::kName) {
    r.host_name = t.name;
    r.port = t.port_lo;
  } else if (t.network()) {
    r.address = target::FormatIp(t.prefix.ip);
    r.port = t.port_lo;
  } else {
    r.path = t.path;
  }
  return r;
}

absl::StatusOr<target::Target> ToTarget(const TargetRef& r) {
  target::Target t;
  switch (r.kind) {
    case TargetKind::kTcp: t.proto = target::Proto::kTcp; break;
    case TargetKind::kUdp: t.proto = target::Proto::kUdp; break;
    case TargetKind::kUnix: t.proto = target::Proto::kUnix; break;
    case TargetKind::kFile: t.proto = target::Proto::kFile; break;
    case TargetKind::kExec: t.proto = target::Proto::kExec; break;
  }
  if (!t.network()) {
    t.path = r.path;
    return t;
  }
  t.port_lo = t.port_hi = r.port;
  if (!r.host_name.empty()) {
    if (!r.address.empty()) return absl::InvalidArgumentError("target has both an address and a name");
    TG_ASSIGN_OR_RETURN(t.name, target::ParseHostName(r.host_name));
    t.host = target::Host::kName;
    return t;
  }
  TG_ASSIGN_OR_RETURN(target::Ip ip, target::ParseIp(r.address));
  t.prefix = target::HostPrefix(ip);
  t.port_lo = t.port_hi = r.port;
  return t;
}

absl::StatusOr<TargetRef> ParseTargetRef(std::string_view text) {
  TG_ASSIGN_OR_RETURN(target::Target t, target::Parse(text, target::Form::kDestination));
  return ToTargetRef(t);
}

std::string FormatTargetRef(const TargetRef& r) {
  auto t = ToTarget(r);
  return t.ok() ? target::Format(*t) : "?";
}

absl::StatusOr<NetRange> ParseCidr(std::string_view text) {
  TG_ASSIGN_OR_RETURN(target::Prefix p, target::ParseCidr(text, target::CidrForm::kExact));
  NetRange r;
  r.family = p.ip.family;
  r.addr = p.ip.bytes;
  r.prefix_len = p.len;
  return r;
}

absl::StatusOr<std::vector<NetRange>> ParseCidrOrNode(std::string_view text) {
  if (text != kNodeCidr) {
    auto r = ParseCidr(text);
    if (!r.ok()) return r.status();
    return std::vector<NetRange>{*r};
  }
  NetRange v4 = *ParseCidr("127.0.0.0/8"), v6 = *ParseCidr("::1/128");
  v4.node = v6.node = true;
  return std::vector<NetRange>{v4, v6};
}

std::string CidrText(const NetRange& r) {
  return r.node ? std::string(kNodeCidr) : target::FormatPrefix(PrefixOf(r));
}

bool CidrContains(const NetRange& r, const IpAddress& ip) { return target::Contains(PrefixOf(r), ip); }

}  // namespace taogate::policies
