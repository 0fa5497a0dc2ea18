// The verifier's chain checks as attacks, with software roots (no TPM):
// each refusal is its own test and its own message.
#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "taogate/common/hex.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/tao/certificate.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

namespace taogate::keys {
namespace {

using testing::BundleOf;
using testing::NowMs;

class TrustBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = *SoftwareRootSigner::Generate();
    issuing_ = std::make_unique<LockedEd25519Key>(*LockedEd25519Key::Generate());
  }
  std::string Cert(const v1::IssuerCertificateBody& b) { return testing::SignCert(*root_, b); }
  std::string GoodCert() { return Cert(testing::CertBody(issuing_->public_key(), *root_)); }
  absl::Status Verify(const std::string& cert, bool strict = false) {
    return BundleOf(*root_).VerifyCertificate(cert, NowMs(), strict).status();
  }
  // Signs like IssuingKey::SignTao, but with the test's own issuing key.
  v1::Tao SignTao(const std::string& cert, v1::TaoBody body = testing::ValidTaoBody()) {
    auto kid = tao::KeyIdOf(issuing_->public_key());
    body.set_issuer_key_id(kid.data(), kid.size());
    auto bytes = tao::EncodeBody(body);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    std::string msg(tao::kTaoSignatureDomain);
    msg.append(*bytes);
    auto sig = issuing_->Sign(crypto::AsBytes(msg));
    EXPECT_TRUE(sig.ok());
    v1::Tao t;
    t.set_body(*bytes);
    t.set_signature(sig->data(), sig->size());
    t.set_issuer_certificate(cert);
    return t;
  }

  std::unique_ptr<SoftwareRootSigner> root_;
  std::unique_ptr<LockedEd25519Key> issuing_;
};

TEST_F(TrustBundleTest, ValidChainVerifies) {
  auto v = BundleOf(*root_).VerifyCertificate(GoodCert(), NowMs(), /*strict=*/false);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->issuing_public_key, issuing_->public_key());
  EXPECT_EQ(v->root_key_id, root_->key_id());
  EXPECT_TRUE(v->software_mode);
  EXPECT_EQ(v->purpose, "tao-issuance");
  auto body = BundleOf(*root_).VerifyTao(SignTao(GoodCert()), NowMs(), 0, false);
  EXPECT_TRUE(body.ok()) << body.status();
}

TEST_F(TrustBundleTest, SoftwareModeRefusedInStrictMode) {
  absl::Status st = Verify(GoodCert(), /*strict=*/true);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("software-mode"), std::string::npos) << st;
  auto t = BundleOf(*root_).VerifyTao(SignTao(GoodCert()), NowMs(), 0, /*strict=*/true);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(TrustBundleTest, SoftwareRootClaimingTpmModeRefusedInStrictMode) {
  auto b = testing::CertBody(issuing_->public_key(), *root_);
  b.set_software_mode(false);  // a software key can sign any claim it likes
  EXPECT_EQ(Verify(Cert(b), true).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(TrustBundleTest, UnknownRootRefused) {
  auto other = *SoftwareRootSigner::Generate();
  std::string cert = testing::SignCert(*other, testing::CertBody(issuing_->public_key(), *other));
  absl::Status st = Verify(cert);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("unknown root key"), std::string::npos) << st;
}

TEST_F(TrustBundleTest, ForgedRootKeyIdRefused) {
  auto other = *SoftwareRootSigner::Generate();
  // Signed by another key but claiming our root's id.
  std::string cert = testing::SignCert(*other, testing::CertBody(issuing_->public_key(), *root_));
  absl::Status st = Verify(cert);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("root signature does not verify"), std::string::npos) << st;
}

TEST_F(TrustBundleTest, TamperedCertificateBodyRefused) {
  v1::IssuerCertificate c;
  ASSERT_TRUE(c.ParseFromString(GoodCert()));
  v1::IssuerCertificateBody b;
  ASSERT_TRUE(b.ParseFromString(c.body()));
  b.set_not_after_ms(b.not_after_ms() + 365LL * 86'400'000);  // extend its life
  c.set_body(b.SerializeAsString());
  absl::Status st = Verify(c.SerializeAsString());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("root signature does not verify"), std::string::npos) << st;
}

TEST_F(TrustBundleTest, SubstitutedIssuingKeyRefused) {
  auto attacker = *LockedEd25519Key::Generate();
  v1::IssuerCertificate c;
  ASSERT_TRUE(c.ParseFromString(GoodCert()));
  v1::IssuerCertificateBody b;
  ASSERT_TRUE(b.ParseFromString(c.body()));
  const auto& pub = attacker.public_key();
  auto id = tao::KeyIdOf(pub);
  b.set_issuing_public_key(pub.data(), pub.size());
  b.set_issuing_key_id(id.data(), id.size());
  c.set_body(b.SerializeAsString());
  EXPECT_EQ(Verify(c.SerializeAsString()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(TrustBundleTest, FlippedSignatureByteRefused) {
  v1::IssuerCertificate c;
  ASSERT_TRUE(c.ParseFromString(GoodCert()));
  std::string sig = c.signature();
  sig[10] ^= 0x01;
  c.set_signature(sig);
  EXPECT_EQ(Verify(c.SerializeAsString()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(TrustBundleTest, EverySingleBitFlipOfTheCertificateIsRefused) {
  const std::string good = GoodCert();
  TrustBundle bundle = BundleOf(*root_);
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(bundle.VerifyCertificate(bad, NowMs(), false).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST_F(TrustBundleTest, ExpiredCertificateRefused) {
  auto b = testing::CertBody(issuing_->public_key(), *root_);
  b.set_not_before_ms(NowMs() - 7'200'000);
  b.set_not_after_ms(NowMs() - 3'600'000);
  absl::Status st = Verify(Cert(b));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("expired"), std::string::npos) << st;
}

TEST_F(TrustBundleTest, NotYetValidCertificateRefused) {
  auto b = testing::CertBody(issuing_->public_key(), *root_);
  b.set_not_before_ms(NowMs() + 3'600'000);
  b.set_not_after_ms(NowMs() + 7'200'000);
  absl::Status st = Verify(Cert(b));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("not yet valid"), std::string::npos) << st;
}

TEST_F(TrustBundleTest, BadTaoSignatureRefused) {
  v1::Tao t = SignTao(GoodCert());
  std::string sig = t.signature();
  sig[0] ^= 0x80;
  t.set_signature(sig);
  auto r = BundleOf(*root_).VerifyTao(t, NowMs(), 0, false);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("TAO signature does not verify"), std::string::npos) << r.status();
}

TEST_F(TrustBundleTest, TaoSignedByUncertifiedKeyRefused) {
  // A valid certificate for key A attached to a TAO signed by key B.
  std::string cert_for_a = GoodCert();
  issuing_ = std::make_unique<LockedEd25519Key>(*LockedEd25519Key::Generate());
  v1::Tao t = SignTao(GoodCert());
  t.set_issuer_certificate(cert_for_a);
  auto r = BundleOf(*root_).VerifyTao(t, NowMs(), 0, false);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
}

TEST_F(TrustBundleTest, ExpiredTaoRefused) {
  v1::Tao t = SignTao(GoodCert());
  auto r = BundleOf(*root_).VerifyTao(t, NowMs() + 120'000, 0, false);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("expired"), std::string::npos) << r.status();
}

TEST_F(TrustBundleTest, NotYetValidTaoRefused) {
  v1::TaoBody body = testing::ValidTaoBody();
  body.set_not_before_ms(NowMs() + 600'000);
  body.set_expires_at_ms(NowMs() + 660'000);
  auto r = BundleOf(*root_).VerifyTao(SignTao(GoodCert(), body), NowMs(), 1000, false);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("not yet valid"), std::string::npos) << r.status();
}

TEST_F(TrustBundleTest, WrongPurposeRefusedForTaos) {
  auto b = testing::CertBody(issuing_->public_key(), *root_);
  b.set_purpose("ledger-checkpoint");
  auto r = BundleOf(*root_).VerifyTao(SignTao(Cert(b)), NowMs(), 0, false);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
}

TEST_F(TrustBundleTest, RetiredRootStillVouchesForCertificatesItIssuedWhileActive) {
  auto new_root = *SoftwareRootSigner::Generate();
  const int64_t retired_at = NowMs() + 1000;
  auto bundle = TrustBundle::FromRoots(
      {TrustedRoot{"old", root_->public_key(), 0, retired_at, true},
       TrustedRoot{"new", new_root->public_key(), 0, INT64_MAX, true}});
  ASSERT_TRUE(bundle.ok());
  EXPECT_TRUE(bundle->VerifyCertificate(GoodCert(), NowMs() + 60'000, false).ok());
  auto late = testing::CertBody(issuing_->public_key(), *root_);
  late.set_not_before_ms(retired_at + 1);
  absl::Status st = bundle->VerifyCertificate(Cert(late), NowMs() + 60'000, false).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("outside the validity window of root old"), std::string::npos) << st;
  std::string from_new = testing::SignCert(*new_root, testing::CertBody(issuing_->public_key(), *new_root));
  EXPECT_TRUE(bundle->VerifyCertificate(from_new, NowMs(), false).ok());
}

TEST_F(TrustBundleTest, JsonRoundTrip) {
  std::string text = TrustBundle::ToJson({TrustedRoot{"r1", root_->public_key(), 5, 10'000'000'000'000, true}});
  auto b = TrustBundle::Parse(text);
  ASSERT_TRUE(b.ok()) << b.status() << text;
  ASSERT_EQ(b->roots().size(), 1u);
  EXPECT_EQ(b->roots()[0].name, "r1");
  EXPECT_EQ(b->roots()[0].public_key.key_id(), root_->key_id());
  EXPECT_EQ(b->roots()[0].not_before_ms, 5);
  EXPECT_EQ(b->roots()[0].not_after_ms, 10'000'000'000'000);
  EXPECT_TRUE(b->roots()[0].software);
}

TEST_F(TrustBundleTest, MalformedBundlesRefused) {
  std::string pem = root_->public_key().ToPem();
  for (const char* bad : {"", "[]", "{\"version\":2,\"roots\":[]}", "{\"version\":1}",
                          "{\"version\":1,\"roots\":[]}", "{\"version\":1,\"roots\":[{}]}",
                          "{\"version\":1,\"roots\":[{\"public_key_pem\":\"junk\"}]}",
                          "{\"version\":1,\"roots\":[],\"extra\":1}"}) {
    EXPECT_EQ(TrustBundle::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  std::string typo = TrustBundle::ToJson({TrustedRoot{"r", root_->public_key()}});
  typo.replace(typo.find("not_before_ms"), 13, "not_befor_ms");
  EXPECT_EQ(TrustBundle::Parse(typo).status().code(), absl::StatusCode::kInvalidArgument);
  auto dup = TrustBundle::FromRoots({TrustedRoot{"a", root_->public_key()}, TrustedRoot{"b", root_->public_key()}});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PublicKeyTest, OnlyP256AndEd25519RootsAreAccepted) {
  for (const char* alg : {"RSA", "P-384"}) {
    auto dir = taogate::testing::TempDir();
    auto path = (dir.path() / "k.pem").string();
    std::vector<std::string> gen = {"/usr/bin/openssl", "genpkey", "-out", path + ".key"};
    if (std::string(alg) == "RSA") {
      gen.insert(gen.begin() + 2, {"-algorithm", "RSA"});
    } else {
      gen.insert(gen.begin() + 2, {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"});
    }
    ASSERT_EQ(taogate::testing::RunCommand(gen).exit_code, 0) << alg;
    ASSERT_EQ(taogate::testing::RunCommand({"/usr/bin/openssl", "pkey", "-in", path + ".key", "-pubout",
                                            "-out", path}).exit_code, 0);
    auto k = PublicKey::FromPem(taogate::testing::ReadFile(path));
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument) << alg;
  }
}

TEST(PublicKeyTest, DerPemRoundTripKeepsTheKeyId) {
  auto root = *SoftwareRootSigner::Generate();
  auto from_pem = PublicKey::FromPem(root->public_key().ToPem());
  ASSERT_TRUE(from_pem.ok());
  auto from_der = PublicKey::FromDer(root->public_key_der());
  ASSERT_TRUE(from_der.ok());
  EXPECT_EQ(from_pem->key_id(), root->key_id());
  EXPECT_EQ(from_der->key_id(), root->key_id());
  EXPECT_EQ(root->key_id(), crypto::Sha256(root->public_key_der()));
  EXPECT_EQ(PublicKey::FromDer(root->public_key_der() + "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace taogate::keys
