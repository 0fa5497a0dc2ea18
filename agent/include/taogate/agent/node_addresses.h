// Node targets: "this node's own service on port P", whatever address it is
// reached by.
//
// A service bound to a wildcard address (0.0.0.0, ::) answers on every local
// address, so protecting tcp:127.0.0.1:5432 alone leaves the same service
// open through 10.0.0.5:5432, the pod IP, fe80::..., 127.0.0.2. A node target
// names the port instead of an address:
//
//   tcp:node:5432   udp:node:53   any:node:8000-8010   tcp:node:*
//
// `node` is a reserved word in the address position (never a DNS name: a
// host literally called "node" must be written "node." once DNS targets
// exist). The same keyword is the `cidr` of a governor ProtectedTarget and a
// `cidrs` entry of a bundle's target (policies/SCHEMA.md).
//
// The agent expands a node target into one exact protected target per node
// address: 127.0.0.0/8, ::1/128, and every address of every interface of the
// agent's network namespace (IPv4 and IPv6, link-local included), each with
// the target's protocol and ports. NodeAddressWatcher keeps the address list
// current from rtnetlink (RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR); TargetSync
// applies the difference. A TAO still names one concrete address
// (tcp:10.0.0.5:5432); it redeems because that address is in the maps.
//
// Thread safety: the free functions are pure. NodeAddressWatcher calls its
// callback from its own thread, one call at a time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/common/fd.h"
#include "taogate/target/target.h"

namespace taogate::agent {

inline constexpr char kNodeKeyword[] = "node";
// Addresses of a node beyond this are refused (fail closed: the old set stays).
inline constexpr size_t kMaxNodeAddresses = 1024;

// Node targets are parsed by target::Parse (Form::kProtected): host
// target::Host::kNode, e.g. "tcp:node:5432".

// Canonical IP literals ("10.0.0.5", "fe80::1"), sorted and unique; entries
// that are not IP literals are dropped.
std::vector<std::string> CanonicalAddresses(const std::vector<std::string>& addrs);

// One target per node address: 127.0.0.0/8, ::1/128, then the host prefix
// of each of `addrs` (IPv4 inside 127/8 and ::1 are already covered).
// `node` carries proto and ports.
std::vector<target::Target> ExpandNodeTarget(const target::Target& node, const std::vector<std::string>& addrs);

// A DNS name target's entry for one of its addresses (docs/names.md): the
// same protocol and ports at ip/32 or ip/128, the name dropped.
target::Target AtAddress(const target::Target& named, const target::Ip& ip);

// Every address of every interface in the caller's network namespace
// (RTM_GETADDR dump), canonical and sorted.
absl::StatusOr<std::vector<std::string>> DumpNodeAddresses();

// Watches rtnetlink for address changes and calls on_change with the full,
// freshly dumped list after each burst of RTM_NEWADDR/RTM_DELADDR (and after
// a lost-event overflow, and every resync_ms as a backstop). The callback is
// not called for an unchanged list; when it fails, the same change is
// offered again about a second later.
class NodeAddressWatcher {
 public:
  using Callback = std::function<absl::Status(const std::vector<std::string>&)>;
  // Subscribes first, then dumps: no change between the two is missed.
  static absl::StatusOr<std::unique_ptr<NodeAddressWatcher>> Open(int resync_ms = 30'000);
  ~NodeAddressWatcher();  // Stop()
  NodeAddressWatcher(const NodeAddressWatcher&) = delete;
  NodeAddressWatcher& operator=(const NodeAddressWatcher&) = delete;

  const std::vector<std::string>& initial() const { return initial_; }
  void Start(Callback on_change);
  void Stop();

 private:
  NodeAddressWatcher() = default;
  void Loop();
  UniqueFd sock_;
  int resync_ms_ = 30'000;
  std::vector<std::string> initial_;
  Callback on_change_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace taogate::agent
