#include "taogate/policies/targets.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "taogate/common/path.h"
#include "taogate/common/strings.h"

namespace taogate::policies {
namespace {

absl::StatusOr<uint16_t> ParsePort(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) {
    return absl::InvalidArgumentError(StrCat("bad port '", s, "'"));
  }
  return static_cast<uint16_t>(v);
}

}  // namespace

absl::StatusOr<IpAddress> ParseIp(std::string_view text) {
  if (text.empty() || text.size() > 45) return absl::InvalidArgumentError("bad IP address");
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = 6;
    // ::ffff:a.b.c.d is the IPv4 host a.b.c.d (a dual-stack socket reaches it),
    // so it is matched against IPv4 targets, never treated as "some v6 host".
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.bytes.data(), kMapped, sizeof kMapped) == 0) {
      std::memmove(ip.bytes.data(), ip.bytes.data() + 12, 4);
      std::memset(ip.bytes.data() + 4, 0, 12);
      ip.family = 4;
    }
    return ip;
  }
  return absl::InvalidArgumentError(StrCat("bad IP address '", text, "'"));
}

absl::StatusOr<NetRange> ParseCidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat("'", text, "' is not a CIDR (want ADDR/LEN)"));
  }
  auto ip = ParseIp(text.substr(0, slash));
  if (!ip.ok()) return ip.status();
  std::string_view len_s = text.substr(slash + 1);
  unsigned len = 0;
  auto [p, ec] = std::from_chars(len_s.data(), len_s.data() + len_s.size(), len);
  unsigned max = ip->family == 4 ? 32 : 128;
  if (len_s.empty() || ec != std::errc() || p != len_s.data() + len_s.size() || len > max) {
    return absl::InvalidArgumentError(StrCat("bad prefix length in '", text, "'"));
  }
  NetRange r;
  r.family = ip->family;
  r.addr = ip->bytes;
  r.prefix_len = static_cast<uint8_t>(len);
  for (unsigned bit = len; bit < max; ++bit) {
    if (r.addr[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError(StrCat("host bits set in '", text, "'"));
    }
  }
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

bool CidrContains(const NetRange& r, const IpAddress& ip) {
  if (r.family != ip.family) return false;
  unsigned full = r.prefix_len / 8;
  if (std::memcmp(r.addr.data(), ip.bytes.data(), full) != 0) return false;
  unsigned rem = r.prefix_len % 8;
  if (rem == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (r.addr[full] & mask) == (ip.bytes[full] & mask);
}

bool IsCanonicalPath(std::string_view p, bool allow_trailing_slash) {
  if (p.empty() || p[0] != '/' || p.size() > kMaxPathLength) return false;
  if (p.find('\0') != std::string_view::npos) return false;
  if (p == "/") return allow_trailing_slash;
  std::string_view rest = p.substr(1);
  if (!rest.empty() && rest.back() == '/') {
    if (!allow_trailing_slash) return false;
    rest.remove_suffix(1);
  }
  return CanonicalComponents(rest);
}

bool PathUnder(std::string_view path, std::string_view prefix) {
  if (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty()) return !path.empty() && path[0] == '/';  // "/" covers all
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

absl::StatusOr<TargetRef> ParseTargetRef(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError("target must be KIND:VALUE (tcp, udp, unix, file, exec)");
  }
  std::string_view kind = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  TargetRef t;
  if (kind == "tcp" || kind == "udp") {
    t.kind = kind == "tcp" ? TargetKind::kTcp : TargetKind::kUdp;
    std::string_view host, port;
    if (!rest.empty() && rest[0] == '[') {
      size_t close = rest.find(']');
      if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
        return absl::InvalidArgumentError("want [IPv6]:PORT");
      }
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
    } else {
      size_t last = rest.rfind(':');
      if (last == std::string_view::npos) return absl::InvalidArgumentError("want ADDR:PORT");
      host = rest.substr(0, last);
      port = rest.substr(last + 1);
      if (host.find(':') != std::string_view::npos) {
        return absl::InvalidArgumentError("IPv6 targets are written [ADDR]:PORT");
      }
    }
    auto ip = ParseIp(host);
    if (!ip.ok()) return ip.status();
    auto p = ParsePort(port);
    if (!p.ok()) return p.status();
    t.address = std::string(host);
    t.port = *p;
    return t;
  }
  if (kind == "unix") t.kind = TargetKind::kUnix;
  else if (kind == "file") t.kind = TargetKind::kFile;
  else if (kind == "exec") t.kind = TargetKind::kExec;
  else return absl::InvalidArgumentError(StrCat("unknown target kind '", kind, "'"));
  if (!IsCanonicalPath(rest, false)) {
    return absl::InvalidArgumentError(StrCat("path '", rest, "' is not absolute and canonical"));
  }
  t.path = std::string(rest);
  return t;
}

std::string FormatTargetRef(const TargetRef& t) {
  switch (t.kind) {
    case TargetKind::kTcp:
    case TargetKind::kUdp: {
      bool v6 = t.address.find(':') != std::string::npos;
      return StrCat(t.kind == TargetKind::kTcp ? "tcp:" : "udp:", v6 ? "[" : "", t.address,
                    v6 ? "]" : "", ":", static_cast<unsigned>(t.port));
    }
    case TargetKind::kUnix: return StrCat("unix:", t.path);
    case TargetKind::kFile: return StrCat("file:", t.path);
    case TargetKind::kExec: return StrCat("exec:", t.path);
  }
  return "?";
}

}  // namespace taogate::policies
