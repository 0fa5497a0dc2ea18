// The DNS parser (dns/message.h) against responses built by hand: what a
// name's addresses are, and every way an answer is refused as garbage.
#include "taogate/dns/message.h"

#include <gtest/gtest.h>

#include "dns/dns_testing.h"

namespace taogate::dns {
namespace {

using testing::Ip;
using testing::Ips;
using testing::ResponseBuilder;

constexpr const char* kName = "db.tg.test";

absl::StatusOr<Response> Parse(const ResponseBuilder& b, uint16_t qtype = kTypeA) {
  auto bytes = b.Bytes();
  return ParseResponse(bytes, kName, qtype);
}

std::string GarbageOf(std::vector<uint8_t> bytes, uint16_t qtype = kTypeA) {
  auto r = ParseResponse(bytes, kName, qtype);
  return r.ok() ? "accepted" : std::string(r.status().message());
}

TEST(DnsMessage, AddressesOfTheNameSortedWithTheLowestTtl) {
  auto r = Parse(ResponseBuilder(kName, kTypeA).A(kName, "10.0.0.2", 30).A(kName, "10.0.0.1", 20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->addrs, Ips({"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(r->ttl_s, 20u);
}

TEST(DnsMessage, CnameChainIsFollowedAndRecorded) {
  auto r = Parse(ResponseBuilder(kName, kTypeA)
                     .Cname(kName, "a.cdn.test", 10).Cname("a.cdn.test", "b.cdn.test", 300)
                     .A("b.cdn.test", "192.0.2.7", 60));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chain, (std::vector<std::string>{"a.cdn.test", "b.cdn.test"}));
  EXPECT_EQ(r->addrs, Ips({"192.0.2.7"}));
  EXPECT_EQ(r->ttl_s, 10u);  // the chain's links expire too
}

TEST(DnsMessage, RecordsOffTheChainAddNothing) {
  auto r = Parse(ResponseBuilder(kName, kTypeA).A(kName, "10.0.0.1").A("evil.test", "6.6.6.6"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->addrs, Ips({"10.0.0.1"}));
  EXPECT_EQ(r->ignored, 1u);
}

TEST(DnsMessage, WrongFamilyIsDroppedAndCounted) {
  auto r = Parse(ResponseBuilder(kName, kTypeA).A(kName, "10.0.0.1").Aaaa(kName, "fd00::1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->addrs, Ips({"10.0.0.1"}));
  EXPECT_EQ(r->wrong_family, 1u);
}

TEST(DnsMessage, MappedIpv6IsTheIpv4Host) {
  auto r = Parse(ResponseBuilder(kName, kTypeAaaa).Aaaa(kName, "::ffff:10.1.2.3"), kTypeAaaa);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->addrs, Ips({"10.1.2.3"}));
  EXPECT_EQ(r->wrong_family, 1u);
}

TEST(DnsMessage, NxDomainAndAdBitAreReported) {
  auto nx = Parse(ResponseBuilder(kName, kTypeA).Rcode(kRcodeNxDomain));
  ASSERT_TRUE(nx.ok());
  EXPECT_EQ(nx->rcode, kRcodeNxDomain);
  EXPECT_TRUE(Parse(ResponseBuilder(kName, kTypeA).Ad().A(kName, "10.0.0.1"))->ad);
}

TEST(DnsMessage, AnswerToAnotherQuestionIsGarbage) {
  EXPECT_EQ(GarbageOf(ResponseBuilder("other.tg.test", kTypeA).A("other.tg.test", "1.1.1.1").Bytes()),
            "garbage answer: answers another question");
  EXPECT_EQ(GarbageOf(ResponseBuilder(kName, kTypeAaaa).Bytes()), "garbage answer: answers another question");
}

TEST(DnsMessage, AddressOfTheWrongLengthIsGarbage) {
  EXPECT_EQ(GarbageOf(ResponseBuilder(kName, kTypeA).Record(kName, kTypeA, {10, 0, 0}).Bytes()),
            "garbage answer: address record of 3 bytes");
}

TEST(DnsMessage, RecordCutShortIsGarbage) {
  auto bytes = ResponseBuilder(kName, kTypeA).A(kName, "10.0.0.1").Bytes();
  bytes.resize(bytes.size() - 2);
  EXPECT_EQ(GarbageOf(bytes), "garbage answer: record data past the end");
}

TEST(DnsMessage, QueryIsNotAResponse) {
  auto bytes = ResponseBuilder(kName, kTypeA).Bytes();
  bytes[2] &= 0x7f;  // QR=0
  EXPECT_EQ(GarbageOf(bytes), "garbage answer: not a response");
}

TEST(DnsMessage, CnameLoopIsGarbage) {
  EXPECT_EQ(GarbageOf(ResponseBuilder(kName, kTypeA).Cname(kName, "x.tg.test").Cname("x.tg.test", kName).Bytes()),
            "garbage answer: CNAME loop");
}

TEST(DnsMessage, CnameChainLongerThanTheCapIsGarbage) {
  ResponseBuilder b(kName, kTypeA);
  std::string from = kName;
  for (size_t i = 0; i <= kMaxChain; ++i) {
    std::string to = "c" + std::to_string(i) + ".tg.test";
    b.Cname(from, to);
    from = to;
  }
  EXPECT_EQ(GarbageOf(b.Bytes()), "garbage answer: CNAME chain too long");
}

TEST(DnsMessage, CompressionPointerLoopIsGarbage) {
  auto bytes = ResponseBuilder(kName, kTypeA).Bytes();
  bytes[7] = 1;                               // one answer...
  bytes.insert(bytes.end(), {0xc0, uint8_t(bytes.size() & 0xff)});  // ...whose owner points at itself
  bytes.resize(bytes.size() + 10);
  EXPECT_EQ(GarbageOf(bytes), "garbage answer: forward name pointer");
}

TEST(DnsMessage, JunkIsGarbage) {
  EXPECT_EQ(GarbageOf({0xde, 0xad}), "garbage answer: shorter than a header");
}

TEST(DnsMessage, QueryAsksForTheAdBitAndRecursion) {
  auto q = BuildQuery(kName, kTypeAaaa);
  EXPECT_EQ(q[2], 0x01);  // RD
  EXPECT_EQ(q[3], 0x20);  // AD
  EXPECT_EQ(std::vector<uint8_t>(q.begin() + 12, q.end() - 4), testing::EncodeName(kName));
  EXPECT_EQ(q.back(), kClassIn);
}

}  // namespace
}  // namespace taogate::dns
