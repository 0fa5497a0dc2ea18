#include "taogate/runtime/listen.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdlib>

#include "taogate/common/strings.h"

namespace taogate::runtime {
namespace {

bool IsNumericIp(const std::string& host) {
  in_addr a4{};
  in6_addr a6{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

}  // namespace

bool IsLoopback(std::string_view host) {
  const std::string h(host);
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return inet_pton(AF_INET6, h.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

absl::Status CheckListenHost(std::string_view key, std::string_view host, bool allow_remote) {
  if (!IsNumericIp(std::string(host)))
    return absl::InvalidArgumentError(StrCat("config ", key, ": '", host, "' is not a numeric IP address"));
  if (!allow_remote && !IsLoopback(host))
    return absl::InvalidArgumentError(
        StrCat("config ", key, ": '", host,
               "' is not a loopback address; set metrics_allow_remote: true to serve "
               "/metrics and /healthz to other hosts (e.g. a Prometheus scraping the pod)"));
  return absl::OkStatus();
}

absl::StatusOr<ListenAddress> ParseListen(std::string_view key, std::string_view listen,
                                          bool allow_remote) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        StrCat("config ", key, ": '", listen, "' is not HOST:PORT or [IPV6]:PORT"));
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == listen.size()) return bad();
  std::string_view host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad();  // an IPv6 host needs its brackets
  }
  const std::string port_text(listen.substr(colon + 1));
  char* end = nullptr;
  errno = 0;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || port_text[0] == '-' || port_text[0] == '+' || port > 65535)
    return bad();
  if (absl::Status st = CheckListenHost(key, host, allow_remote); !st.ok()) return st;
  return ListenAddress{std::string(host), static_cast<int>(port)};
}

std::string ListenSpelling(const ListenAddress& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return v6 ? StrCat("[", a.host, "]:", a.port) : StrCat(a.host, ":", a.port);
}

}  // namespace taogate::runtime
