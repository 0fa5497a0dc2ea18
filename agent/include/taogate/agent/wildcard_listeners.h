// The wildcard-listener check behind the "protected loopback target served on
// a wildcard address" warning of `taogatectl probe` and `agent status`.
//
// A target like tcp:127.0.0.1:5432 protects one address. If the service on
// port 5432 listens on 0.0.0.0 or ::, it also answers on every other local
// address (10.0.0.5, the pod IP, 127.0.0.2 is covered only by a /8), which a
// governed workload reaches without a grant. The fix is a node target,
// tcp:node:5432 (node_addresses.h). These functions find such listeners in
// /proc/net/{tcp,tcp6,udp,udp6} of the caller's network namespace.
//
// Pure except ReadWildcardListeners; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace taogate::agent {

struct WildcardListener {
  uint8_t proto = 6;  // 6 tcp, 17 udp
  bool v6 = false;    // from tcp6/udp6 (a :: socket usually takes IPv4 too)
  uint16_t port = 0;
};

// Parses the text of one /proc/net/{tcp,tcp6,udp,udp6} file: TCP sockets in
// LISTEN and unconnected UDP sockets whose local address is 0.0.0.0, ::, or
// ::ffff:0.0.0.0. Lines it cannot read are skipped (the header included).
std::vector<WildcardListener> ParseProcNetWildcards(std::string_view text, uint8_t proto, bool v6);

// All four files of the caller's network namespace (a missing file, e.g. no
// IPv6, contributes nothing).
std::vector<WildcardListener> ReadWildcardListeners();

// One warning per (protected loopback target, wildcard listener on one of its
// ports). targets use the target::Parse protected form ("tcp:127.0.0.1:5432",
// "udp:[::1]/128:53", "any:127.0.0.0/8:8000-8010", "tcp:127.0.0.1:*");
// only targets wholly inside 127.0.0.0/8 or equal to ::1 count, and others
// (node targets included) are ignored. E.g.
//   "protected target tcp:127.0.0.1:5432: port 5432 is served on a wildcard
//    address (0.0.0.0), so every address of this node reaches it; protect
//    tcp:node:5432 instead"
std::vector<std::string> WildcardExposureWarnings(const std::vector<std::string>& targets,
                                                  const std::vector<WildcardListener>& listeners);

}  // namespace taogate::agent
