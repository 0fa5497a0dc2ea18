// TAO -> issuing key -> TPM root, end to end on swtpm, and the attacks on
// that chain: another TPM's certificate, an expired or tampered certificate,
// a software-mode TAO in strict mode.
#include <thread>

#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "testing/manual_clock.h"
#include "taogate/keys/keys_init.h"

namespace taogate::keys {
namespace {

using testing::NowMs;

class TpmChainTest : public testing::SwtpmTest {
 protected:
  void SetUp() override {
    SwtpmTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    root_ = OpenRoot(tcti());
  }
  std::unique_ptr<TpmRootSigner> OpenRoot(const std::string& t, uint32_t handle = kDefaultPersistentHandle) {
    KeysInitOptions o;
    o.tcti = t;
    o.persistent_handle = handle;
    auto init = KeysInit(o);
    EXPECT_TRUE(init.ok()) << init.status();
    TpmRootSignerOptions so;
    so.tcti = t;
    so.persistent_handle = handle;
    auto s = TpmRootSigner::Open(so);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  std::unique_ptr<IssuingKeyManager> Manager(RootSigner* root, IssuingKeyOptions o = testing::TestIssuingOptions()) {
    auto m = IssuingKeyManager::Create(root, std::move(o));
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *std::move(m) : nullptr;
  }
  std::unique_ptr<TpmRootSigner> root_;
};

TEST_F(TpmChainTest, TaoChainsToTheTpmRootInStrictMode) {
  ASSERT_NE(root_, nullptr);
  auto m = Manager(root_.get());
  auto t = m->SignTao(testing::ValidTaoBody());
  ASSERT_TRUE(t.ok()) << t.status();
  TrustBundle bundle = testing::BundleOf(*root_);
  auto body = bundle.VerifyTao(*t, NowMs(), 1000, /*strict=*/true);
  ASSERT_TRUE(body.ok()) << body.status();
  auto issuer = bundle.VerifyCertificate(t->issuer_certificate(), NowMs(), true);
  ASSERT_TRUE(issuer.ok());
  EXPECT_FALSE(issuer->software_mode);
  EXPECT_EQ(issuer->root_key_id, root_->key_id());
}

TEST_F(TpmChainTest, CertificateFromAnotherTpmIsRefused) {
  auto other = OpenRoot(OtherTpm().tcti());
  ASSERT_NE(other, nullptr);
  ASSERT_NE(other->key_id(), root_->key_id());
  auto m = Manager(other.get());
  auto t = *m->SignTao(testing::ValidTaoBody());
  auto r = testing::BundleOf(*root_).VerifyTao(t, NowMs(), 0, true);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("unknown root key"), std::string::npos) << r.status();

  // The other TPM signing a body that claims to come from our root.
  auto issuing = *LockedEd25519Key::Generate();
  auto forged = testing::SignCert(*other, testing::CertBody(issuing.public_key(), *root_));
  auto v = testing::BundleOf(*root_).VerifyCertificate(forged, NowMs(), true);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(v.status().message().find("root signature does not verify"), std::string::npos) << v.status();
}

TEST_F(TpmChainTest, ExpiredIssuingCertificateIsRefused) {
  const int64_t two_hours_ago = NowMs() - 2 * 3'600'000;
  auto o = testing::TestIssuingOptions();
  taogate::testing::ManualClock then(two_hours_ago);
  o.clock = &then;
  auto m = Manager(root_.get(), o);
  auto body = testing::ValidTaoBody();
  body.set_not_before_ms(two_hours_ago);
  body.set_expires_at_ms(two_hours_ago + 60'000);
  auto t = *m->SignTao(body);
  TrustBundle bundle = testing::BundleOf(*root_);
  // Valid back then, refused now.
  EXPECT_TRUE(bundle.VerifyTao(t, two_hours_ago + 1000, 0, true).ok());
  auto r = bundle.VerifyCertificate(t.issuer_certificate(), NowMs(), true);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("expired"), std::string::npos) << r.status();
  EXPECT_EQ(bundle.VerifyTao(t, NowMs(), 0, true).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TpmChainTest, TamperedCertificateIsRefused) {
  auto m = Manager(root_.get());
  std::string good = (*m->Current())->certificate();
  TrustBundle bundle = testing::BundleOf(*root_);
  ASSERT_TRUE(bundle.VerifyCertificate(good, NowMs(), true).ok());
  v1::IssuerCertificate c;
  ASSERT_TRUE(c.ParseFromString(good));
  // Every byte of the body is covered: flip each in turn (where the result
  // still parses, the signature must catch it).
  for (size_t i = 0; i < c.body().size(); ++i) {
    v1::IssuerCertificate bad = c;
    (*bad.mutable_body())[i] ^= 0x01;
    EXPECT_FALSE(bundle.VerifyCertificate(bad.SerializeAsString(), NowMs(), true).ok()) << "byte " << i;
  }
  v1::IssuerCertificate bad_sig = c;
  (*bad_sig.mutable_signature())[bad_sig.signature().size() - 1] ^= 0x01;
  EXPECT_EQ(bundle.VerifyCertificate(bad_sig.SerializeAsString(), NowMs(), true).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(TpmChainTest, SoftwareModeTaosRefusedInStrictModeOnly) {
  auto soft = *SoftwareRootSigner::Generate();
  auto bundle = TrustBundle::FromRoots({TrustedRoot{"tpm", root_->public_key()},
                                        TrustedRoot{"dev", soft->public_key(), 0, INT64_MAX, true}});
  ASSERT_TRUE(bundle.ok());
  auto soft_tao = *Manager(soft.get())->SignTao(testing::ValidTaoBody());
  auto tpm_tao = *Manager(root_.get())->SignTao(testing::ValidTaoBody());
  EXPECT_TRUE(bundle->VerifyTao(soft_tao, NowMs(), 0, /*strict=*/false).ok());
  auto r = bundle->VerifyTao(soft_tao, NowMs(), 0, /*strict=*/true);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("software-mode"), std::string::npos) << r.status();
  EXPECT_TRUE(bundle->VerifyTao(tpm_tao, NowMs(), 0, true).ok());
}

TEST_F(TpmChainTest, RootRotationWithOverlapKeepsOldCertificatesValid) {
  auto m_old = Manager(root_.get());
  auto old_tao = *m_old->SignTao(testing::ValidTaoBody());
  // The new root is in another TPM (a replaced machine); swtpm serves one
  // connection at a time, so a second root in the same swtpm would wait for
  // root_'s worker to let go.
  auto new_root = OpenRoot(OtherTpm().tcti());
  ASSERT_NE(new_root, nullptr);
  const int64_t retired = NowMs();
  auto bundle = TrustBundle::FromRoots({TrustedRoot{"old", root_->public_key(), 0, retired},
                                        TrustedRoot{"new", new_root->public_key(), 0}});
  ASSERT_TRUE(bundle.ok());
  auto new_tao = *Manager(new_root.get())->SignTao(testing::ValidTaoBody());
  EXPECT_TRUE(bundle->VerifyTao(old_tao, NowMs(), 0, true).ok());
  EXPECT_TRUE(bundle->VerifyTao(new_tao, NowMs(), 0, true).ok());
  // The retired root cannot vouch for anything new.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto o = testing::TestIssuingOptions();
  o.backdate_ms = 0;
  auto late_manager = Manager(root_.get(), o);
  // Not backdated: the certificate starts now, so the body must too
  // (ValidTaoBody starts a second ago).
  v1::TaoBody late_body = testing::ValidTaoBody();
  late_body.set_not_before_ms(NowMs());
  auto late = late_manager->SignTao(late_body);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(bundle->VerifyTao(*late, NowMs(), 0, true).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TpmChainTest, SignerRefusesAnUnexpectedKey) {
  TpmRootSignerOptions so;
  so.tcti = tcti();
  so.expected_key_id = KeyId{};
  auto s = TpmRootSigner::Open(so);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("TPM root key changed"), std::string::npos) << s.status();
}

TEST_F(TpmChainTest, ConcurrentSignersShareOneTpmWorker) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        std::string msg = "message " + std::to_string(i);
        auto sig = root_->Sign(msg);
        if (sig.ok() && root_->public_key().Verify(msg, *sig).ok()) ++ok;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 40);
}

}  // namespace
}  // namespace taogate::keys
