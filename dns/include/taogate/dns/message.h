// The DNS messages taogate::dns sends and reads (RFC 1035 section 4), built
// and parsed here and nowhere else, without c-ares (which only carries the
// bytes): the parser decides what an answer means, so it is pure and tested
// byte by byte.
//
// A query: a 12-byte header (id 0, the transport sets it; RD=1; AD=1, which
// asks the resolver to report its DNSSEC validation, RFC 6840 section 5.7),
// one question (the name's labels, QTYPE, QCLASS IN), no EDNS.
//
// A response is accepted only if it is a response (QR=1, opcode QUERY) to
// exactly the question asked (one question, same name case-insensitively,
// same type, class IN); every record in the answer section is read in full
// (a short or overlong record, a bad compression pointer or a pointer loop is
// garbage: the whole response is refused). The name's addresses are the
// records of the asked type (A: 4 bytes, AAAA: 16; any other length is
// garbage) owned by the last name of the CNAME chain that starts at the
// question name and follows the answer section's CNAME records (at most
// kMaxChain links; a loop or a longer chain is garbage). Records owned by
// names off that chain are ignored (a resolver does not get to add addresses
// to a name by appending unrelated records); a record of the other address
// family on the chain is dropped and counted as wrong_family, and so is an
// IPv4-mapped IPv6 address (::ffff:a.b.c.d), which is kept as the IPv4 host
// a.b.c.d (target.h: a dual-stack socket reaches that host).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/target/target.h"

namespace taogate::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kClassIn = 1;
inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;
inline constexpr size_t kMaxChain = 8;
inline constexpr size_t kMaxNameLength = 253;  // presentation form, no trailing dot

// The query for `name` (canonical: target::ParseHostName) and `qtype` (kTypeA or kTypeAaaa).
std::vector<uint8_t> BuildQuery(std::string_view name, uint16_t qtype);

struct Response {
  uint8_t rcode = 0;  // kRcodeNoError, kRcodeNxDomain, ...
  bool ad = false;    // the resolver says it validated the answer (DNSSEC)
  bool tc = false;    // truncated (the transport retries over TCP)
  std::vector<target::Ip> addrs;   // of the asked family, sorted, no duplicates
  uint32_t ttl_s = 0;              // min over the chain's CNAMEs and the addresses
  std::vector<std::string> chain;  // CNAME targets from the question name, in order
  uint32_t wrong_family = 0;       // records of the other family dropped (or mapped)
  uint32_t ignored = 0;            // answer records off the chain or of other types
};

// InvalidArgument "garbage answer: ..." for anything the header comment
// refuses. The rcode is not judged here (an NXDOMAIN response parses).
absl::StatusOr<Response> ParseResponse(std::span<const uint8_t> msg, std::string_view qname,
                                       uint16_t qtype);

// Total order on addresses (family, then bytes): sets and diffs.
bool IpLess(const target::Ip& a, const target::Ip& b);

}  // namespace taogate::dns
