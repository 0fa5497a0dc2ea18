// libFuzzer target: the agent's DNS answer parser (dns/message.h) reads bytes
// from the network; it must never crash or loop on any input, and what it
// accepts must keep its own invariants. Byte 0 picks the asked type (even:
// A, odd: AAAA); the rest is the response to "db.example.internal".
// The (void)-discarded result is the point: any verdict is fine, a crash is not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "taogate/dns/message.h"
#include "taogate/target/target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint16_t qtype = (data[0] & 1) ? taogate::dns::kTypeAaaa : taogate::dns::kTypeA;
  std::span<const uint8_t> msg(data + 1, size - 1);
  auto r = taogate::dns::ParseResponse(msg, "db.example.internal", qtype);
  if (r.ok()) {
    if (r->chain.size() > taogate::dns::kMaxChain) std::abort();
    for (size_t i = 1; i < r->addrs.size(); ++i)
      if (!taogate::dns::IpLess(r->addrs[i - 1], r->addrs[i])) std::abort();  // sorted, no duplicates
  }
  (void)taogate::target::ParseHostName(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
