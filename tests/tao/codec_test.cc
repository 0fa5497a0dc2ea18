// Every way a TAO body or envelope can be malformed is rejected with
// InvalidArgument and a reason naming the problem; none crashes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tao/tao_testing.h"
#include "taogate/tao/codec.h"

namespace taogate::tao {
namespace {

using ::testing::HasSubstr;
using testing::TestIssuer;

void AppendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
// Appends field `number` (wire type varint) with `value` to an encoding.
std::string WithUnknownField(std::string encoded, int number, uint64_t value = 1) {
  AppendVarint(encoded, static_cast<uint64_t>(number) << 3);
  AppendVarint(encoded, value);
  return encoded;
}

class CodecTest : public ::testing::Test {
 protected:
  // Expects DecodeBody to refuse `body` with a message containing `why`.
  void ExpectRejected(const v1::TaoBody& body, std::string_view why) {
    auto r = DecodeBody(body.SerializeAsString());
    ASSERT_FALSE(r.ok()) << "accepted a body that should fail: " << why;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(why));
  }
  TestIssuer issuer_;
  v1::TaoBody body_ = issuer_.ValidBody();
};

TEST_F(CodecTest, ValidBodyRoundTripsDeterministically) {
  auto a = EncodeBody(body_);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = EncodeBody(body_);
  EXPECT_EQ(*a, *b);
  auto decoded = DecodeBody(*a);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->SerializeAsString(), body_.SerializeAsString());
}

TEST_F(CodecTest, SignedTaoDecodes) {
  auto tao = DecodeTao(issuer_.SignToWire(body_));
  ASSERT_TRUE(tao.ok()) << tao.status();
}

TEST_F(CodecTest, EmptyBody) { EXPECT_FALSE(DecodeBody("").ok()); }

TEST_F(CodecTest, GarbageBody) {
  auto r = DecodeBody("\xff\xff\xff\xff\xff");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a valid TaoBody"));
}

TEST_F(CodecTest, OversizeBody) {
  body_.set_actor(std::string(kMaxBodyBytes, 'a'));
  auto r = DecodeBody(body_.SerializeAsString());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("limit"));
}

TEST_F(CodecTest, OversizeTao) {
  std::string big(kMaxTaoBytes + 1, '\0');
  auto r = DecodeTao(big);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("limit"));
}

TEST_F(CodecTest, EmptyTao) { EXPECT_FALSE(DecodeTao(std::string_view{}).ok()); }

TEST_F(CodecTest, UnknownCriticalFieldInBodyRejected) {
  auto r = DecodeBody(WithUnknownField(body_.SerializeAsString(), 14));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("unknown critical field 14"));
}

TEST_F(CodecTest, UnknownCriticalFieldAboveAnnotationRangeRejected) {
  EXPECT_FALSE(DecodeBody(WithUnknownField(body_.SerializeAsString(), 2000)).ok());
}

TEST_F(CodecTest, UnknownNonCriticalFieldIgnored) {
  auto r = DecodeBody(WithUnknownField(body_.SerializeAsString(), 1500));
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(CodecTest, UnknownCriticalFieldInBindingRejected) {
  std::string binding = WithUnknownField(body_.binding().SerializeAsString(), 9);
  body_.clear_binding();
  std::string enc = body_.SerializeAsString();
  AppendVarint(enc, (6 << 3) | 2);  // field 6, length-delimited
  AppendVarint(enc, binding.size());
  enc += binding;
  auto r = DecodeBody(enc);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("binding: unknown critical field 9"));
}

TEST_F(CodecTest, UnknownCriticalFieldInEnvelopeRejected) {
  auto r = DecodeTao(WithUnknownField(issuer_.SignToWire(body_), 7));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tao: unknown critical field 7"));
}

TEST_F(CodecTest, WrongVersion) { body_.set_version(2); ExpectRejected(body_, "version"); }
TEST_F(CodecTest, ShortId) { body_.set_id("short"); ExpectRejected(body_, "id must be 16"); }
TEST_F(CodecTest, ShortNonce) { body_.set_nonce(""); ExpectRejected(body_, "nonce must be 16"); }
TEST_F(CodecTest, ShortIssuerKeyId) { body_.set_issuer_key_id("k"); ExpectRejected(body_, "issuer_key_id"); }
TEST_F(CodecTest, MissingActor) { body_.clear_actor(); ExpectRejected(body_, "actor is missing"); }
TEST_F(CodecTest, ActorWithControlCharacters) {
  body_.set_actor("evil\nforged-log-line");
  ExpectRejected(body_, "control characters");
}
TEST_F(CodecTest, MissingBinding) { body_.clear_binding(); ExpectRejected(body_, "binding is missing"); }
TEST_F(CodecTest, MissingNodeId) {
  body_.mutable_binding()->clear_node_id();
  ExpectRejected(body_, "node_id is missing");
}
TEST_F(CodecTest, BindingWithoutCgroupOrPod) {
  body_.mutable_binding()->set_cgroup_id(0);
  ExpectRejected(body_, "neither a cgroup id nor a pod uid");
}
TEST_F(CodecTest, PodOnlyBindingAccepted) {
  body_.mutable_binding()->set_cgroup_id(0);
  body_.mutable_binding()->set_pod_uid("7d1e1f3a-0000-4000-8000-000000000001");
  EXPECT_TRUE(DecodeBody(body_.SerializeAsString()).ok());
}
TEST_F(CodecTest, MissingTarget) { body_.clear_target(); ExpectRejected(body_, "target is missing"); }
TEST_F(CodecTest, UnspecifiedProto) {
  body_.mutable_target()->set_proto(v1::TARGET_PROTO_UNSPECIFIED);
  ExpectRejected(body_, "unspecified or unknown");
}
TEST_F(CodecTest, UnknownProtoValue) {
  body_.mutable_target()->set_proto(static_cast<v1::TargetProto>(99));
  ExpectRejected(body_, "unspecified or unknown");
}
TEST_F(CodecTest, BadAddress) {
  body_.mutable_target()->set_address("10.0.0.300");
  ExpectRejected(body_, "not an IPv4 or IPv6 literal or a canonical DNS name");
}
TEST_F(CodecTest, NameAddressOnlyInCanonicalForm) {  // docs/names.md
  for (const char* bad : {"DB.internal", "db.internal.", "db_x.internal", "db", "*.internal"}) {
    body_.mutable_target()->set_address(bad);
    ExpectRejected(body_, "not an IPv4 or IPv6 literal or a canonical DNS name");
  }
  body_.mutable_target()->set_address("db.internal");
  EXPECT_TRUE(ValidateBody(body_).ok());
}
TEST_F(CodecTest, Ipv6AddressAccepted) {
  body_.mutable_target()->set_address("::1");
  EXPECT_TRUE(DecodeBody(body_.SerializeAsString()).ok());
}
TEST_F(CodecTest, PortZero) { body_.mutable_target()->set_port(0); ExpectRejected(body_, "outside 1-65535"); }
TEST_F(CodecTest, PortTooLarge) {
  body_.mutable_target()->set_port(65536);
  ExpectRejected(body_, "outside 1-65535");
}
TEST_F(CodecTest, RelativePath) {
  auto* t = body_.mutable_target();
  t->Clear();
  t->set_proto(v1::TARGET_PROTO_UNIX);
  t->set_path("run/db.sock");
  ExpectRejected(body_, "not absolute");
}
TEST_F(CodecTest, PathTargetWithPort) {
  auto* t = body_.mutable_target();
  t->set_proto(v1::TARGET_PROTO_FILE);
  t->set_path("/var/lib/app.db");
  ExpectRejected(body_, "address/port set for a path target");
}
TEST_F(CodecTest, MaxUsesZero) { body_.set_max_uses(0); ExpectRejected(body_, "max_uses must be 1"); }
TEST_F(CodecTest, MaxUsesTwo) { body_.set_max_uses(2); ExpectRejected(body_, "max_uses must be 1"); }
TEST_F(CodecTest, ZeroWindow) {
  body_.set_expires_at_ms(body_.not_before_ms());
  ExpectRejected(body_, "empty or negative");
}
TEST_F(CodecTest, NegativeWindow) {
  body_.set_expires_at_ms(body_.not_before_ms() - 1000);
  ExpectRejected(body_, "empty or negative");
}
TEST_F(CodecTest, MissingNotBefore) { body_.set_not_before_ms(0); ExpectRejected(body_, "not_before"); }
TEST_F(CodecTest, WindowTooLong) {
  body_.set_expires_at_ms(body_.not_before_ms() + kMaxLifetimeMs + 1);
  ExpectRejected(body_, "exceeds");
}
TEST_F(CodecTest, ShortPolicyHash) {
  body_.set_policy_bundle_sha256("abc");
  ExpectRejected(body_, "policy_bundle_sha256");
}
TEST_F(CodecTest, EncodeRefusesInvalidBody) {
  body_.set_max_uses(5);
  EXPECT_EQ(EncodeBody(body_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CodecTest, EnvelopeWithShortSignature) {
  v1::Tao tao = issuer_.Sign(body_);
  tao.set_signature("sig");
  auto r = DecodeTao(tao.SerializeAsString());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("signature must be 64"));
}

TEST_F(CodecTest, EnvelopeWithoutCertificate) {
  v1::Tao tao = issuer_.Sign(body_);
  tao.clear_issuer_certificate();
  auto r = DecodeTao(tao.SerializeAsString());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("certificate is missing"));
}

TEST_F(CodecTest, EnvelopeWithInvalidBody) {
  v1::Tao tao = issuer_.Sign(body_);
  body_.set_max_uses(3);
  tao.set_body(body_.SerializeAsString());
  EXPECT_FALSE(DecodeTao(tao.SerializeAsString()).ok());
}

TEST(TimeWindowTest, ExpiredNotYetValidAndSkew) {
  TestIssuer issuer;
  v1::TaoBody b = issuer.ValidBody();
  b.set_not_before_ms(10'000);
  b.set_expires_at_ms(20'000);
  EXPECT_TRUE(CheckTimeWindow(b, 15'000, 0).ok());
  auto early = CheckTimeWindow(b, 9'000, 500);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(early.message()), HasSubstr("not yet valid"));
  EXPECT_TRUE(CheckTimeWindow(b, 9'600, 500).ok());  // within skew
  auto late = CheckTimeWindow(b, 20'000, 0);
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.message()), HasSubstr("expired"));
  EXPECT_TRUE(CheckTimeWindow(b, 20'400, 500).ok());   // within skew
  EXPECT_FALSE(CheckTimeWindow(b, 20'500, 500).ok());  // skew exhausted
}

}  // namespace
}  // namespace taogate::tao
