#include "taogate/dns/config.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "taogate/common/strings.h"
#include "absl/strings/str_split.h"
#include "taogate/common/status.h"

namespace taogate::dns {
namespace {

bool IsLoopback(const target::Ip& ip) {
  if (ip.family == 4) return ip.bytes[0] == 127;
  static constexpr std::array<uint8_t, 16> kOne = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip.bytes == kOne;
}

}  // namespace

absl::StatusOr<Server> ParseServer(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("bad DNS server '", text, "': ", why));
  };
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("no ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("expected ':PORT' after ']'");
      port = rest.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos) return bad("bracket an IPv6 address");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return bad("empty port");
  }
  Server s;
  auto ip = target::ParseIp(host);
  if (!ip.ok()) return bad("not an IP address (servers are addresses, never names)");
  s.ip = *ip;
  if (!port.empty()) {
    uint32_t p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) {
      return bad("port must be 1-65535");
    }
    s.port = uint16_t(p);
  }
  return s;
}

absl::StatusOr<std::vector<Server>> ResolvConfServers(std::string_view text) {
  std::vector<Server> out;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.size() < 2 || words[0] != "nameserver") continue;
    std::string_view addr(words[1].data(), words[1].size());
    if (size_t pct = addr.find('%'); pct != std::string_view::npos) addr = addr.substr(0, pct);
    auto ip = target::ParseIp(addr);
    if (!ip.ok()) continue;  // not ours to judge; the lines that parse are the servers
    out.push_back(Server{.ip = *ip, .port = 53});
  }
  if (out.empty()) return absl::FailedPreconditionError("resolv.conf names no nameserver");
  return out;
}

absl::StatusOr<std::vector<Server>> EffectiveServers(const Config& config) {
  if (!config.servers.empty()) {
    std::vector<Server> out;
    for (const auto& s : config.servers) {
      TG_ASSIGN_OR_RETURN(Server server, ParseServer(s));
      out.push_back(server);
    }
    return out;
  }
  std::ifstream in(config.resolv_conf);
  if (!in) return absl::FailedPreconditionError(StrCat("cannot read ", config.resolv_conf));
  std::stringstream text;
  text << in.rdbuf();
  auto servers = ResolvConfServers(text.str());
  if (!servers.ok()) {
    return absl::FailedPreconditionError(StrCat(config.resolv_conf, ": ", servers.status().message()));
  }
  return servers;
}

absl::Status Validate(const Config& c, const std::vector<Server>& servers) {
  const TableOptions& t = c.table;
  if (t.ttl_floor_s < 1 || t.ttl_ceiling_s < t.ttl_floor_s) {
    return absl::InvalidArgumentError("dns: need 1 <= ttl_floor_s <= ttl_ceiling_s");
  }
  if (t.retry_max_s < 1) return absl::InvalidArgumentError("dns: retry_max_s must be >= 1");
  if (t.max_addresses < 1 || t.max_addresses > 1024) {
    return absl::InvalidArgumentError("dns: max_addresses must be 1-1024");
  }
  if (t.jitter < 0 || t.jitter > 0.5) return absl::InvalidArgumentError("dns: jitter must be 0-0.5");
  if (c.query_timeout_ms < 10 || c.query_timeout_ms > 60000) {
    return absl::InvalidArgumentError("dns: query_timeout_ms must be 10-60000");
  }
  if (c.tries < 1 || c.tries > 10) return absl::InvalidArgumentError("dns: tries must be 1-10");
  if (c.max_inflight < 1 || c.max_inflight > 1024) {
    return absl::InvalidArgumentError("dns: max_inflight must be 1-1024");
  }
  if (servers.empty()) return absl::InvalidArgumentError("dns: no server");
  if (c.require_ad && !c.ad_trusted_path) {
    for (const auto& s : servers) {
      if (!IsLoopback(s.ip)) {
        return absl::InvalidArgumentError(StrCat(
            "dns: require_ad trusts the resolver's AD bit, and server ", target::FormatIp(s.ip),
            " is not loopback: the bit could be forged on the way; set ad_trusted_path if that "
            "path is trusted"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace taogate::dns
