// Wildcard listeners in /proc/net and the loopback-target warning
// (contract in wildcard_listeners.h).
#include "taogate/agent/wildcard_listeners.h"

#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "taogate/common/strings.h"
#include "taogate/target/target.h"

namespace taogate::agent {
namespace {

constexpr std::string_view kTcpListen = "0A";  // TCP_LISTEN
constexpr std::string_view kUdpClose = "07";   // TCP_CLOSE: bound, unconnected

bool Hex(std::string_view s, unsigned* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

// "00000000000000000000FFFF00000000" is ::ffff:0.0.0.0 (words in host order,
// so the ffff word prints as FFFF0000 on little endian and 0000FFFF on big).
bool WildcardHex(std::string_view a) {
  if (a.find_first_not_of('0') == std::string_view::npos) return true;
  return a.size() == 32 && a.substr(0, 16).find_first_not_of('0') == std::string_view::npos &&
         (a.substr(16) == "FFFF000000000000" || a.substr(16) == "0000FFFF00000000");
}

struct LoopTarget {
  bool tcp = false, udp = false;
  uint16_t lo = 0, hi = 0;  // 0..0 = every port
};

// Only targets wholly on loopback: inside 127.0.0.0/8, or ::1.
bool ParseLoopback(const std::string& spec, LoopTarget* out) {
  auto t = target::Parse(spec, target::Form::kProtected);
  if (!t.ok() || !t->network() || t->host != target::Host::kPrefix) return false;  // node targets, names
  const target::Prefix& p = t->prefix;
  bool loop = p.ip.family == 4 ? p.ip.bytes[0] == 127 && p.len >= 8 : p == *target::ParseCidr("::1/128", target::CidrForm::kExact);
  if (!loop) return false;
  out->tcp = t->proto != target::Proto::kUdp;
  out->udp = t->proto != target::Proto::kTcp;
  out->lo = t->port_lo;
  out->hi = t->port_hi;
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::vector<WildcardListener> ParseProcNetWildcards(std::string_view text, uint8_t proto, bool v6) {
  std::vector<WildcardListener> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, st;
    if (!(f >> sl >> local >> remote >> st) || sl.empty() || sl.back() != ':') continue;
    size_t colon = local.find(':');
    unsigned port = 0;
    if (colon == std::string::npos || !Hex(std::string_view(local).substr(colon + 1), &port) || port == 0 ||
        port > 65535)
      continue;
    if (local.size() - colon - 1 != 4 || (colon != 8 && colon != 32)) continue;
    if (!WildcardHex(std::string_view(local).substr(0, colon))) continue;
    if (proto == 6 && st != kTcpListen) continue;
    if (proto == 17) {
      size_t rc = remote.find(':');
      if (st != kUdpClose || rc == std::string::npos || !WildcardHex(remote.substr(0, rc)) ||
          remote.substr(rc + 1) != "0000")
        continue;
    }
    out.push_back({proto, v6, static_cast<uint16_t>(port)});
  }
  return out;
}

std::vector<WildcardListener> ReadWildcardListeners() {
  std::vector<WildcardListener> out;
  for (auto [file, proto, v6] : {std::tuple{"/proc/net/tcp", 6, false}, std::tuple{"/proc/net/tcp6", 6, true},
                                 std::tuple{"/proc/net/udp", 17, false}, std::tuple{"/proc/net/udp6", 17, true}}) {
    auto l = ParseProcNetWildcards(ReadFile(file), static_cast<uint8_t>(proto), v6);
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

std::vector<std::string> WildcardExposureWarnings(const std::vector<std::string>& targets,
                                                  const std::vector<WildcardListener>& listeners) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& spec : targets) {
    LoopTarget t;
    if (!ParseLoopback(spec, &t)) continue;
    for (const auto& l : listeners) {
      bool proto_ok = l.proto == 6 ? t.tcp : t.udp;
      bool port_ok = (t.lo == 0 && t.hi == 0) || (l.port >= t.lo && l.port <= t.hi);
      if (!proto_ok || !port_ok) continue;
      const char* p = l.proto == 6 ? "tcp" : "udp";
      std::string w = StrCat("protected target ", spec, ": port ", l.port, " is served on a wildcard address (",
                             l.v6 ? "::" : "0.0.0.0", "), so every address of this node reaches it; protect ",
                             p, ":node:", l.port, " instead");
      if (seen.insert(w).second) out.push_back(std::move(w));
    }
  }
  return out;
}

}  // namespace taogate::agent
