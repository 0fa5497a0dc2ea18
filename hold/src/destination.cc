#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "taogate/common/strings.h"
#include "taogate/hold/supervisor.h"

namespace taogate::hold {

std::optional<target::Target> DestinationOf(const void* addr, size_t len, int sock_type) {
  if (addr == nullptr || len < sizeof(sa_family_t)) return std::nullopt;
  sockaddr_storage ss{};
  std::memcpy(&ss, addr, std::min(len, sizeof(ss)));
  const char* proto = sock_type == SOCK_STREAM ? "tcp" : sock_type == SOCK_DGRAM ? "udp" : nullptr;
  char ip[INET6_ADDRSTRLEN] = {};
  std::string text;
  if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in) && proto != nullptr) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
    text = StrCat(proto, ":", ip, ":", ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6) && proto != nullptr) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    text = StrCat(proto, ":[", ip, "]:", ntohs(in6->sin6_port));  // IPv4-mapped: Parse makes it IPv4
  } else if (ss.ss_family == AF_UNIX && len > offsetof(sockaddr_un, sun_path)) {
    auto* un = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t n = strnlen(un->sun_path, std::min(sizeof(un->sun_path), len - offsetof(sockaddr_un, sun_path)));
    if (n == 0) return std::nullopt;  // abstract: no path to protect
    text = StrCat("unix:", std::string(un->sun_path, n));
  } else {
    return std::nullopt;
  }
  auto t = target::Parse(text, target::Form::kDestination);
  if (!t.ok()) return std::nullopt;
  return *t;
}

}  // namespace taogate::hold
