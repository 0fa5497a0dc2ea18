// Signature properties as attacks: forged, tampered, wrong key, and a body
// re-encoded after signing are all refused.
#include <gtest/gtest.h>

#include "tao/tao_testing.h"
#include "taogate/common/hex.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

namespace taogate::tao {
namespace {

using testing::TestIssuer;

// RFC 8032 section 7.1, TEST 1 (empty message): our wrapper must produce the
// standard Ed25519 signature.
TEST(Ed25519Test, Rfc8032KnownAnswer) {
  auto seed = FromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  ASSERT_TRUE(seed.ok());
  auto key = crypto::Ed25519PrivateKey::FromSeed(*seed);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(ToHex(key->PublicKey()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = key->Sign({});
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(ToHex(*sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(crypto::Ed25519Verify(key->PublicKey(), {}, *sig).ok());
}

TEST(KeyIdTest, IsSha256OfRawPublicKey) {
  auto pub = FromHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  ASSERT_TRUE(pub.ok());
  // sha256 of the 32 raw bytes, computed independently with `openssl dgst -sha256`.
  EXPECT_EQ(ToHex(KeyIdOf(*pub)), ToHex(crypto::Sha256(*pub)));
  EXPECT_EQ(KeyIdOf(*pub).size(), 32u);
}

class SigningTest : public ::testing::Test {
 protected:
  absl::Status Verify(const v1::Tao& tao, std::span<const uint8_t> pub) {
    auto body = DecodeBody(tao.body());
    if (!body.ok()) return body.status();
    return VerifyTaoSignature(tao, *body, pub);
  }
  TestIssuer issuer_;
};

TEST_F(SigningTest, GenuineTaoVerifies) {
  v1::Tao tao = issuer_.Sign(issuer_.ValidBody());
  EXPECT_TRUE(Verify(tao, issuer_.public_key()).ok());
}

TEST_F(SigningTest, TamperedBodyRefused) {
  v1::Tao tao = issuer_.Sign(issuer_.ValidBody());
  auto body = *DecodeBody(tao.body());
  body.mutable_target()->set_port(6379);  // point the TAO at another system
  tao.set_body(*EncodeBody(body));
  EXPECT_EQ(Verify(tao, issuer_.public_key()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, FlippedSignatureBitRefused) {
  v1::Tao tao = issuer_.Sign(issuer_.ValidBody());
  std::string sig = tao.signature();
  sig[10] ^= 0x01;
  tao.set_signature(sig);
  EXPECT_EQ(Verify(tao, issuer_.public_key()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, ForgedByAnotherKeyRefused) {
  TestIssuer attacker;
  v1::TaoBody body = issuer_.ValidBody();
  // The attacker claims the genuine issuer's key id but signs with its own key.
  auto bytes = *EncodeBody(body);
  auto sig = *attacker.key().Sign(crypto::AsBytes(std::string(kTaoSignatureDomain) + bytes));
  v1::Tao forged;
  forged.set_body(bytes);
  forged.set_signature(sig.data(), sig.size());
  forged.set_issuer_certificate(issuer_.certificate());
  EXPECT_EQ(Verify(forged, issuer_.public_key()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, KeyIdMismatchRefused) {
  TestIssuer other;
  v1::Tao tao = other.Sign(other.ValidBody());
  EXPECT_EQ(Verify(tao, issuer_.public_key()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, SignatureWithoutDomainPrefixRefused) {
  v1::TaoBody body = issuer_.ValidBody();
  auto bytes = *EncodeBody(body);
  auto sig = *issuer_.key().Sign(crypto::AsBytes(bytes));  // no domain separation
  v1::Tao tao;
  tao.set_body(bytes);
  tao.set_signature(sig.data(), sig.size());
  tao.set_issuer_certificate(issuer_.certificate());
  EXPECT_EQ(Verify(tao, issuer_.public_key()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, SignRefusesKeyIdMismatch) {
  TestIssuer other;
  auto bytes = *EncodeBody(other.ValidBody());
  EXPECT_EQ(SignTao(bytes, issuer_.key(), issuer_.certificate()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SigningTest, ConstantTimeEqualSemantics) {
  std::array<uint8_t, 3> a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4};
  EXPECT_TRUE(crypto::ConstantTimeEqual(a, b));
  EXPECT_FALSE(crypto::ConstantTimeEqual(a, c));
  EXPECT_FALSE(crypto::ConstantTimeEqual(a, std::span<const uint8_t>(b).first(2)));
}

}  // namespace
}  // namespace taogate::tao
