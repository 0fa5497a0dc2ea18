// BundleVerifier: chain to the trust bundle, strict mode, and the
// certificate cache never extends a certificate's validity.
#include "taogate/agent/bundle_verifier.h"

#include <gtest/gtest.h>

#include <chrono>

#include "taogate/common/crypto.h"
#include "taogate/keys/issuing_key.h"
#include "taogate/keys/root_signer.h"
#include "taogate/tao/codec.h"

namespace taogate::agent {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class BundleVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root = keys::SoftwareRootSigner::Generate();
    ASSERT_TRUE(root.ok());
    root_ = std::move(*root);
    keys::IssuingKeyOptions io;
    io.certificate_lifetime_ms = 10 * 60'000;
    io.rotate_every_ms = 5 * 60'000;
    io.max_tao_lifetime_ms = 2 * 60'000;
    auto issuer = keys::IssuingKeyManager::Create(root_.get(), io);
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    issuer_ = std::move(*issuer);
  }
  keys::TrustBundle Bundle(const keys::RootSigner& root) {
    auto b = keys::TrustBundle::FromRoots({keys::TrustedRoot{"r", root.public_key(), 0, INT64_MAX, true}});
    EXPECT_TRUE(b.ok());
    return *b;
  }
  v1::Tao Tao() {
    v1::TaoBody b;
    b.set_version(1);
    b.set_id(std::string(16, 'i'));
    b.set_nonce(std::string(16, 'n'));
    b.set_actor("a");
    b.mutable_binding()->set_node_id("n");
    b.mutable_binding()->set_cgroup_id(1);
    b.set_action_class("db.read");
    b.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
    b.mutable_target()->set_address("127.0.0.1");
    b.mutable_target()->set_port(5432);
    b.set_max_uses(1);
    b.set_not_before_ms(NowMs());
    b.set_expires_at_ms(NowMs() + 60'000);
    b.set_policy_bundle_sha256(std::string(32, 'p'));
    auto t = issuer_->SignTao(b);
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
