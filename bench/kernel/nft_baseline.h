// The nftables side of taogate-bench-connect: what the same protected
// targets cost as an nftables set, measured in the same run as the gate.
//
// Two fresh network namespaces are created for the run, loopback up in both:
// `rule`, holding
//   table ip taogate_bench {
//     set protected { type ipv4_addr . inet_service; flags interval; ... }
//     chain out { type filter hook output priority filter; policy accept;
//                 ip daddr . tcp dport @protected reject with tcp reset }
//   }
// and `none`, with no ruleset; a loopback listener on the same port in each.
// The host's namespace and ruleset are never touched: `nft -f` runs in a
// child that joins `rule` before exec. The namespaces live only as long as
// this object's fds and sockets; the destructor returns the calling thread to
// the namespace it was created in. Needs root and the `nft` binary (Debian's
// nftables). Not thread-safe: Enter/Leave move the calling thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "gate_env.h"
#include "taogate/common/fd.h"

namespace taogate::bench {

// One protected target as the gate holds it: prefix (host order) and port.
struct NftTarget {
  uint32_t net = 0;
  int len = 32;
  uint16_t port = 0;
};

class NftBaseline {
 public:
  // `targets` become the set's elements (a prefix contained in another
  // element with the same port is dropped: the set matches the same
  // destinations, and nftables refuses overlapping intervals). The listeners
  // bind 127.0.0.1:`open_port`. Checks that a connect to `check` (which must
  // be one of `targets`, on 127.0.0.1) is refused inside `rule`.
  // kUnavailable if `nft` is not installed.
  static absl::StatusOr<std::unique_ptr<NftBaseline>> Create(const std::vector<NftTarget>& targets,
                                                             uint16_t open_port, uint16_t check_port);
  ~NftBaseline();

  // Moves the calling thread into `rule` (true) or `none` (false); Leave
  // moves it back.
  absl::Status Enter(bool with_rule);
  absl::Status Leave();
  const LoopbackListener& listener(bool with_rule) const { return with_rule ? rule_l_ : none_l_; }
  size_t elements() const { return elements_; }

 private:
  NftBaseline() = default;
  UniqueFd home_, rule_, none_;
  LoopbackListener rule_l_, none_l_;
  size_t elements_ = 0;
};

}  // namespace taogate::bench
