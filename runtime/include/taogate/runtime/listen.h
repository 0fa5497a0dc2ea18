// Where a daemon's /metrics and /healthz endpoint listens. Loopback is the
// default; any other address is an explicit opt-in (`metrics_allow_remote:
// true` in the agent's and the governor's config) so that a pod can be
// scraped by Prometheus without a config typo exposing it by accident.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace taogate::runtime {

struct ListenAddress {
  std::string host;  // numeric IPv4 or IPv6 address, no brackets
  int port = 0;      // 0: ephemeral
};

// True for 127.0.0.0/8 and ::1.
bool IsLoopback(std::string_view host);

// OK if `host` is a numeric IP address that is on loopback, or any numeric
// IP address when `allow_remote`. InvalidArgument naming `key` otherwise.
absl::Status CheckListenHost(std::string_view key, std::string_view host, bool allow_remote);

// "HOST:PORT" or "[V6]:PORT" -> ListenAddress, checked by CheckListenHost.
// InvalidArgument naming `key` on any other form.
absl::StatusOr<ListenAddress> ParseListen(std::string_view key, std::string_view listen,
                                          bool allow_remote);

// "HOST:PORT", with brackets around an IPv6 host (civetweb's spelling too).
std::string ListenSpelling(const ListenAddress& a);

}  // namespace taogate::runtime
