// ParseTarget and the key encodings of targets and grants (gate_format.h).
#include "target.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

#include "taogate/common/strings.h"

namespace taogate::bpf::internal {

absl::StatusOr<uint16_t> ParsePort(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) {
    return absl::InvalidArgumentError(StrCat("bad port '", s, "'"));
  }
  return static_cast<uint16_t>(v);
}

absl::StatusOr<IpAddr> ParseIp(std::string_view text) {
  IpAddr a;
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.bytes.data(), kMapped, 12) == 0) {  // ::ffff:a.b.c.d is IPv4
      std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
      std::memset(a.bytes.data() + 4, 0, 12);
      a.family = AF_INET;
      return a;
    }
    a.family = AF_INET6;
    return a;
  }
  return absl::InvalidArgumentError(StrCat("bad IP address '", text, "'"));
}

std::string IpToString(int family, const uint8_t* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, bytes, buf, sizeof(buf))) return "?";
  return buf;
}

absl::StatusOr<Prefix> ParseCidr(std::string_view cidr) {
  size_t slash = cidr.find('/');
  TG_ASSIGN_OR_RETURN(IpAddr a, ParseIp(cidr.substr(0, slash)));
  bool v6_text = cidr.substr(0, slash).find(':') != std::string_view::npos;
  int max = a.family == AF_INET ? 32 : 128;
  int len = max;
  if (slash != std::string_view::npos) {
    std::string_view l = cidr.substr(slash + 1);
    auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
    if (ec != std::errc() || p != l.data() + l.size()) {
      return absl::InvalidArgumentError(StrCat("bad prefix length in '", cidr, "'"));
    }
    if (a.family == AF_INET && v6_text) len -= 96;  // ::ffff:0:0/96+n
    if (len < 0 || len > max) return absl::InvalidArgumentError(StrCat("bad prefix in '", cidr, "'"));
  }
  for (int bit = len; bit < max; ++bit) a.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
  return Prefix{a, len};
}

absl::StatusOr<std::vector<uint16_t>> ExpandPorts(uint16_t lo, uint16_t hi) {
  if ((lo == 0 && hi == 0) || (lo <= 1 && hi == 65535)) return std::vector<uint16_t>{0};
  if (lo == 0 || hi < lo) return absl::InvalidArgumentError(StrCat("bad port range ", lo, "-", hi));
  if (static_cast<uint32_t>(hi - lo + 1) > kMaxPortsPerTarget) {
    return absl::InvalidArgumentError(StrCat("port range ", lo, "-", hi, " wider than ",
                                             kMaxPortsPerTarget, " ports: split it or use '*'"));
  }
  std::vector<uint16_t> out;
  for (uint32_t p = lo; p <= hi; ++p) out.push_back(static_cast<uint16_t>(p));
  return out;
}

absl::StatusOr<tg_unix_key> UnixKey(std::string_view path) {
  if (path.empty() || path.size() > TG_UNIX_PATH_MAX) {
    return absl::InvalidArgumentError(StrCat("bad unix socket path length ", path.size()));
  }
  if (path[0] != '\0' && path.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("unix path contains NUL");
  }
  if (path[0] != '\0' && path[0] != '/') {
    return absl::InvalidArgumentError("unix target paths must be absolute");
  }
  tg_unix_key k{};
  std::memcpy(k.path, path.data(), path.size());
  return k;
}

}  // namespace taogate::bpf::internal

namespace taogate::bpf {

absl::StatusOr<Target> ParseTarget(std::string_view spec) {
  Target t;
  size_t c1 = spec.find(':');
  if (c1 == std::string_view::npos) return absl::InvalidArgumentError(StrCat("bad target '", spec, "'"));
  std::string_view proto = spec.substr(0, c1), rest = spec.substr(c1 + 1);
  if (proto == "unix") {
    if (rest.empty()) return absl::InvalidArgumentError("empty unix path");
    t.unix_path = std::string(rest);
    return t;
  }
  if (proto == "tcp") t.proto = Proto::kTcp;
  else if (proto == "udp") t.proto = Proto::kUdp;
  else if (proto == "any") t.proto = Proto::kAny;
  else return absl::InvalidArgumentError(StrCat("bad protocol '", proto, "' in '", spec, "'"));
  size_t c2 = rest.rfind(':');
  if (c2 == std::string_view::npos || (rest.find(']') != std::string_view::npos && c2 < rest.find(']'))) {
    return absl::InvalidArgumentError(StrCat("missing port in '", spec, "' (use :* for every port)"));
  }
  std::string cidr(rest.substr(0, c2));
  // "[::1]/128" -> "::1/128"
  if (!cidr.empty() && cidr.front() == '[') {
    size_t rb = cidr.find(']');
    if (rb == std::string::npos) return absl::InvalidArgumentError(StrCat("bad address in '", spec, "'"));
    cidr = cidr.substr(1, rb - 1) + cidr.substr(rb + 1);
  }
  t.cidr = cidr;
  TG_RETURN_IF_ERROR(internal::ParseCidr(t.cidr).status());
  std::string_view ports = rest.substr(c2 + 1);
  if (ports == "*") return t;
  size_t dash = ports.find('-');
  TG_ASSIGN_OR_RETURN(t.port_lo, internal::ParsePort(ports.substr(0, dash)));
  t.port_hi = t.port_lo;
  if (dash != std::string_view::npos) {
    TG_ASSIGN_OR_RETURN(t.port_hi, internal::ParsePort(ports.substr(dash + 1)));
  }
  if (t.port_hi < t.port_lo) return absl::InvalidArgumentError(StrCat("bad port range in '", spec, "'"));
  return t;
}

}  // namespace taogate::bpf
