// The target grammar, canonical form and address helpers (contract in
// target.h). The only IP parser of the tree (inet_pton lives here).
#include "taogate/target/target.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <cstring>

#include "taogate/common/path.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::target {
namespace {

absl::Status Bad(std::string_view a, std::string_view b = "", std::string_view c = "") {
  return absl::InvalidArgumentError(StrCat(a, b, c));
}

bool ParseUnsigned(std::string_view s, unsigned* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

absl::StatusOr<uint16_t> ParsePort(std::string_view s) {
  unsigned v = 0;
  if (!ParseUnsigned(s, &v) || v == 0 || v > 65535) return Bad("bad port '", s, "'");
  return static_cast<uint16_t>(v);
}

unsigned MaxLen(const Ip& ip) { return ip.family == 4 ? 32 : 128; }

// A host meant as a DNS name rather than a malformed address: no ':' (every
// IPv6 form has one) and something other than digits, '.' and '/'. Its
// errors are then the name grammar's, not "bad IP address".
bool NameLike(std::string_view s) {
  return s.find(':') == std::string_view::npos && s.find_first_not_of("0123456789./") != std::string_view::npos;
}

// A network host that is not an address: a DNS name (tcp/udp only), or the
// address error.
absl::Status ParseNameHost(std::string_view host, const absl::Status& not_ip, Target* t) {
  if (!NameLike(host)) return not_ip;
  TG_ASSIGN_OR_RETURN(t->name, ParseHostName(host));
  if (t->proto != Proto::kTcp && t->proto != Proto::kUdp)
    return Bad("a DNS name target is tcp or udp, not ", ProtoName(t->proto));
  t->host = Host::kName;
  return absl::OkStatus();
}

absl::Status ParsePorts(std::string_view ports, std::string_view text, Target* t) {
  if (ports.empty()) return Bad("missing port in '", text, "' (use :* for every port)");
  if (ports == "*") return absl::OkStatus();
  size_t dash = ports.find('-');
  TG_ASSIGN_OR_RETURN(t->port_lo, ParsePort(ports.substr(0, dash)));
  t->port_hi = t->port_lo;
  if (dash != std::string_view::npos) {
    TG_ASSIGN_OR_RETURN(t->port_hi, ParsePort(ports.substr(dash + 1)));
  }
  if (t->port_hi < t->port_lo) return Bad("bad port range in '", text, "'");
  if (IsEveryPort(t->port_lo, t->port_hi)) t->port_lo = t->port_hi = 0;
  return absl::OkStatus();
}

absl::StatusOr<Target> ParseDestination(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return Bad("target must be KIND:VALUE (tcp, udp, unix, file, exec)");
  std::string_view kind = text.substr(0, colon), rest = text.substr(colon + 1);
  Target t;
  if (kind == "tcp" || kind == "udp") {
    t.proto = kind == "tcp" ? Proto::kTcp : Proto::kUdp;
    std::string_view host, port;
    if (!rest.empty() && rest[0] == '[') {
      size_t close = rest.find(']');
      if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
        return Bad("want [IPv6]:PORT");
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
    } else {
      size_t last = rest.rfind(':');
      if (last == std::string_view::npos) return Bad("want ADDR:PORT");
      host = rest.substr(0, last);
      port = rest.substr(last + 1);
      if (host.find(':') != std::string_view::npos) return Bad("IPv6 targets are written [ADDR]:PORT");
    }
    auto ip = ParseIp(host);
    if (ip.ok()) t.prefix = HostPrefix(*ip);
    else TG_RETURN_IF_ERROR(ParseNameHost(host, ip.status(), &t));
    TG_ASSIGN_OR_RETURN(t.port_lo, ParsePort(port));
    t.port_hi = t.port_lo;
    return t;
  }
  if (kind == "unix") t.proto = Proto::kUnix;
  else if (kind == "file") t.proto = Proto::kFile;
  else if (kind == "exec") t.proto = Proto::kExec;
  else return Bad("unknown target kind '", kind, "'");
  if (!IsCanonicalPath(rest, false)) return Bad("path '", rest, "' is not absolute and canonical");
  t.path = std::string(rest);
  return t;
}

absl::StatusOr<Target> ParseProtected(std::string_view text) {
  size_t c1 = text.find(':');
  if (c1 == std::string_view::npos) return Bad("bad target '", text, "'");
  std::string_view proto = text.substr(0, c1), rest = text.substr(c1 + 1);
  Target t;
  if (proto == "unix") {
    if (rest.empty()) return Bad("empty unix path");
    t.proto = Proto::kUnix;
    t.path = std::string(rest);
    return t;
  }
  if (proto == "tcp") t.proto = Proto::kTcp;
  else if (proto == "udp") t.proto = Proto::kUdp;
  else if (proto == "any") t.proto = Proto::kAny;
  else return Bad(StrCat("bad protocol '", proto, "' in '"), text, "'");
  size_t c2 = rest.rfind(':'), rb = rest.find(']');
  if (c2 == std::string_view::npos || (rb != std::string_view::npos && c2 < rb))
    return Bad("missing port in '", text, "' (use :* for every port)");
  std::string_view host = rest.substr(0, c2);
  if (host == "node") {
    t.host = Host::kNode;
  } else {
    std::string cidr(host);  // "[::1]/128" and "[::1/128]" -> "::1/128"
    if (!cidr.empty() && cidr.front() == '[') {
      size_t close = cidr.find(']');
      if (close == std::string::npos) return Bad("bad address in '", text, "'");
      cidr = cidr.substr(1, close - 1) + cidr.substr(close + 1);
    }
    auto p = ParseCidr(cidr, CidrForm::kLenient);
    if (p.ok()) t.prefix = *p;
    else TG_RETURN_IF_ERROR(ParseNameHost(host, p.status(), &t));
  }
  TG_RETURN_IF_ERROR(ParsePorts(rest.substr(c2 + 1), text, &t));
  return t;
}

}  // namespace

bool Target::single_destination() const {
  if (proto == Proto::kUnix) return !path.empty();
  return (proto == Proto::kTcp || proto == Proto::kUdp) && host == Host::kPrefix &&
         prefix.len == MaxLen(prefix.ip) && port_lo != 0 && port_lo == port_hi;
}

bool Target::one_destination() const {
  if (host != Host::kName) return single_destination();
  return (proto == Proto::kTcp || proto == Proto::kUdp) && !name.empty() && port_lo != 0 && port_lo == port_hi;
}

absl::StatusOr<std::string> ParseHostName(std::string_view text) {
  std::string_view s = text;
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);  // the root label: "a.b." is "a.b"
  if (s.empty()) return Bad("empty DNS name");
  if (s.size() > kMaxHostName) return Bad(StrCat("DNS name longer than ", kMaxHostName, " characters"));
  if (s.find('*') != std::string_view::npos)
    return Bad("wildcard names are not supported ('", s, "'): name each host");
  std::string out;
  out.reserve(s.size());
  size_t labels = 0;
  std::string_view last;
  while (true) {
    size_t dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    if (label.empty()) return Bad("empty label in DNS name '", text, "'");
    if (label.size() > 63) return Bad("DNS name label longer than 63 characters in '", text, "'");
    if (label.front() == '-' || label.back() == '-')
      return Bad("a DNS name label starts or ends with '-' in '", text, "'");
    for (char c : label) {
      unsigned char u = static_cast<unsigned char>(c);
      if (!std::isalnum(u) && c != '-')
        return Bad(StrCat("bad character (byte ", static_cast<unsigned>(u), ") in DNS name: letters, digits, "
                          "'-' and '.' only"));
      out += static_cast<char>(std::tolower(u));
    }
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    out += '.';
    s.remove_prefix(dot + 1);
  }
  if (labels < 2)
    return Bad("'", text, "' is a single-label name: write the fully qualified name (nothing here applies a "
               "resolver search list)");
  if (last.find_first_not_of("0123456789") == std::string_view::npos)
    return Bad("'", text, "' is neither an IP address nor a DNS name (a name's last label is not all digits)");
  return out;
}

absl::Status CheckCanonicalHostName(std::string_view name) {
  TG_ASSIGN_OR_RETURN(std::string canonical, ParseHostName(name));
  if (canonical != name)
    return absl::InvalidArgumentError(
        StrCat("DNS name '", name, "' is not in canonical form (want '", canonical, "')"));
  return absl::OkStatus();
}

absl::StatusOr<Target> Parse(std::string_view text, Form form) {
  return form == Form::kDestination ? ParseDestination(text) : ParseProtected(text);
}

std::string Format(const Target& t) {
  if (!t.network()) return StrCat(ProtoName(t.proto), ":", t.path);
  std::string host;
  if (t.host == Host::kNode) host = "node";
  else if (t.host == Host::kName) host = t.name;
  else if (t.prefix.ip.family == 6) host = StrCat("[", FormatIp(t.prefix.ip), "]");
  else host = FormatIp(t.prefix.ip);
  if (t.host == Host::kPrefix && t.prefix.len != MaxLen(t.prefix.ip)) host += StrCat("/", t.prefix.len);
  std::string ports = t.every_port()             ? "*"
                      : t.port_lo == t.port_hi ? StrCat(t.port_lo)
                                               : StrCat(t.port_lo, "-", t.port_hi);
  return StrCat(ProtoName(t.proto), ":", host, ":", ports);
}

absl::StatusOr<Ip> ParseIp(std::string_view text) {
  if (text.empty() || text.size() > 45) return Bad("bad IP address '", text, "'");
  std::string s(text);
  Ip ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return Bad("bad IP address '", text, "'");
  ip.family = 6;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), kMapped, sizeof kMapped) == 0) {  // ::ffff:a.b.c.d is IPv4
    std::memmove(ip.bytes.data(), ip.bytes.data() + 12, 4);
    std::memset(ip.bytes.data() + 4, 0, 12);
    ip.family = 4;
  }
  return ip;
}

std::string FormatIp(const Ip& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(ip.family == 4 ? AF_INET : AF_INET6, ip.bytes.data(), buf, sizeof buf)) return "?";
  return buf;
}

absl::StatusOr<Prefix> ParseCidr(std::string_view text, CidrForm form) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos && form == CidrForm::kExact)
    return Bad("'", text, "' is not a CIDR (want ADDR/LEN)");
  std::string_view addr = text.substr(0, slash);
  TG_ASSIGN_OR_RETURN(Ip ip, ParseIp(addr));
  unsigned max = MaxLen(ip), len = max;
  if (slash != std::string_view::npos) {
    if (!ParseUnsigned(text.substr(slash + 1), &len)) return Bad("bad prefix length in '", text, "'");
    bool mapped = form == CidrForm::kLenient && ip.family == 4 && addr.find(':') != std::string_view::npos;
    if (mapped) len = len >= 96 ? len - 96 : max + 1;  // ::ffff:0:0/96+n
    if (len > max) return Bad("bad prefix length in '", text, "'");
  }
  Prefix p{ip, static_cast<uint8_t>(len)};
  for (unsigned bit = len; bit < max; ++bit) {
    uint8_t& b = p.ip.bytes[bit / 8];
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((b & mask) && form == CidrForm::kExact) return Bad("host bits set in '", text, "'");
    b = static_cast<uint8_t>(b & ~mask);
  }
  return p;
}

std::string FormatPrefix(const Prefix& p) { return StrCat(FormatIp(p.ip), "/", p.len); }

bool Contains(const Prefix& p, const Ip& ip) {
  if (p.ip.family != ip.family) return false;
  unsigned full = p.len / 8;
  if (std::memcmp(p.ip.bytes.data(), ip.bytes.data(), full) != 0) return false;
  unsigned rem = p.len % 8;
  if (rem == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (p.ip.bytes[full] & mask) == (ip.bytes[full] & mask);
}

bool Covers(const Target& entry, const Target& dest) {
  if (entry.proto == Proto::kUnix || dest.proto == Proto::kUnix)
    return entry.proto == dest.proto && entry.path == dest.path;
  if (!entry.network() || !dest.network() || entry.host != Host::kPrefix || dest.host != Host::kPrefix) return false;
  if (entry.proto != Proto::kAny && entry.proto != dest.proto) return false;
  if (!entry.every_port() && (dest.port_lo < entry.port_lo || dest.port_lo > entry.port_hi)) return false;
  return Contains(entry.prefix, dest.prefix.ip);
}

Prefix HostPrefix(const Ip& ip) { return Prefix{ip, static_cast<uint8_t>(MaxLen(ip))}; }

bool IsEveryPort(uint32_t lo, uint32_t hi) { return (lo == 0 && hi == 0) || (lo <= 1 && hi == 65535); }

absl::Status CheckPortRange(uint32_t lo, uint32_t hi) {
  if (lo > 65535 || hi > 65535) return Bad("port out of range");
  if (IsEveryPort(lo, hi)) return absl::OkStatus();
  if (lo == 0 || hi < lo) return Bad(StrCat("bad port range ", lo, "-", hi));
  if (hi - lo + 1 > kMaxPortsPerTarget)
    return Bad(StrCat("port range ", lo, "-", hi, " wider than ", kMaxPortsPerTarget, " ports: split it or use '*'"));
  return absl::OkStatus();
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

std::string_view ProtoName(Proto p) {
  switch (p) {
    case Proto::kTcp: return "tcp";
    case Proto::kUdp: return "udp";
    case Proto::kAny: return "any";
    case Proto::kUnix: return "unix";
    case Proto::kFile: return "file";
    case Proto::kExec: return "exec";
  }
  return "?";
}

}  // namespace taogate::target
