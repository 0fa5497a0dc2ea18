// BundleVerifier: chain to the trust bundle, strict mode, and the
// certificate cache never extends a certificate's validity.
#include "taogate/agent/bundle_verifier.h"

#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "taogate/tao/codec.h"

namespace taogate::agent {
namespace {

using keys::testing::NowMs;

class BundleVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root = keys::SoftwareRootSigner::Generate();
    ASSERT_TRUE(root.ok());
    root_ = std::move(*root);
    auto issuer = keys::IssuingKeyManager::Create(root_.get(), keys::testing::TestIssuingOptions());
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    issuer_ = std::move(*issuer);
  }
  keys::TrustBundle Bundle(const keys::RootSigner& root) { return keys::testing::BundleOf(root, /*software=*/true); }
  v1::Tao Tao() {
    auto t = issuer_->SignTao(keys::testing::ValidTaoBody());
    EXPECT_TRUE(t.ok()) << t.status();
    return *t;
  }
  absl::Status Verify(BundleVerifier& v, const v1::Tao& t, int64_t now) {
    auto body = tao::DecodeBody(t.body());
    EXPECT_TRUE(body.ok());
    return v.VerifyChain(t, *body, now);
  }
  std::unique_ptr<keys::SoftwareRootSigner> root_;
  std::unique_ptr<keys::IssuingKeyManager> issuer_;
};

TEST_F(BundleVerifierTest, GenuineChainVerifiesTwice) {
  BundleVerifier v(Bundle(*root_), false, 2'000);
  v1::Tao t = Tao();
  EXPECT_TRUE(Verify(v, t, NowMs()).ok());
  EXPECT_TRUE(Verify(v, t, NowMs()).ok());  // cache hit
}

TEST_F(BundleVerifierTest, CachedCertificateStillExpires) {
  BundleVerifier v(Bundle(*root_), false, 2'000);
  v1::Tao t = Tao();
  ASSERT_TRUE(Verify(v, t, NowMs()).ok());
  EXPECT_EQ(Verify(v, t, NowMs() + 11 * 60'000).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(BundleVerifierTest, UnknownRootRefused) {
  auto other = keys::SoftwareRootSigner::Generate();
  ASSERT_TRUE(other.ok());
  BundleVerifier v(Bundle(**other), false, 2'000);
  EXPECT_EQ(Verify(v, Tao(), NowMs()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(BundleVerifierTest, StrictModeRefusesSoftwareRoot) {
  BundleVerifier v(Bundle(*root_), true, 2'000);
  EXPECT_EQ(Verify(v, Tao(), NowMs()).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(BundleVerifierTest, TamperedSignatureRefusedEvenWithCachedCertificate) {
  BundleVerifier v(Bundle(*root_), false, 2'000);
  v1::Tao t = Tao();
  ASSERT_TRUE(Verify(v, t, NowMs()).ok());
  std::string sig = t.signature();
  sig[0] ^= 1;
  t.set_signature(sig);
  EXPECT_EQ(Verify(v, t, NowMs()).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace taogate::agent
