// Issuing keys with a software root: delegation, rotation with continuity,
// mlocked storage and wiping, fail-closed issuance. (The same paths with a
// real TPM are in tpm_chain_test.cc and tpm_failure_test.cc.)
#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "testing/manual_clock.h"
#include "taogate/keys/issuing_key.h"

namespace taogate::keys {
namespace {

using testing::BundleOf;
using testing::NowMs;
using testing::TestIssuingOptions;

// A software root whose signing can be switched off, to drive the manager's
// failure path without a TPM (the TPM version kills a real swtpm).
class SwitchableRoot final : public RootSigner {
 public:
  SwitchableRoot() : inner_(*SoftwareRootSigner::Generate()) {}
  const PublicKey& public_key() const override { return inner_->public_key(); }
  bool software_mode() const override { return true; }
  absl::StatusOr<std::string> Sign(std::string_view m) override {
    if (!up_) return absl::UnavailableError("root offline");
    return inner_->Sign(m);
  }
  std::atomic<bool> up_{true};

 private:
  std::unique_ptr<SoftwareRootSigner> inner_;
};

TEST(IssuingKeyTest, CurrentKeyIsCertifiedByTheRoot) {
  auto root = *SoftwareRootSigner::Generate();
  auto m = IssuingKeyManager::Create(root.get(), TestIssuingOptions());
  ASSERT_TRUE(m.ok()) << m.status();
  auto key = (*m)->Current();
  ASSERT_TRUE(key.ok());
  auto v = BundleOf(*root).VerifyCertificate((*key)->certificate(), NowMs(), false);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->issuing_key_id, (*key)->key_id());
  EXPECT_TRUE(v->software_mode);
  EXPECT_EQ(v->instance, "test-governor");
  auto tao = (*m)->SignTao(testing::ValidTaoBody());
  ASSERT_TRUE(tao.ok()) << tao.status();
  EXPECT_TRUE(BundleOf(*root).VerifyTao(*tao, NowMs(), 0, false).ok());
}

TEST(IssuingKeyTest, RotationKeepsOldCertificatesVerifiable) {
  auto root = *SoftwareRootSigner::Generate();
  auto m = *IssuingKeyManager::Create(root.get(), TestIssuingOptions());
  auto old_tao = *m->SignTao(testing::ValidTaoBody());
  auto old_key = *m->Current();
  ASSERT_TRUE(m->Rotate().ok());
  auto new_key = *m->Current();
  EXPECT_NE(old_key->key_id(), new_key->key_id());
  EXPECT_GT(new_key->certificate_body().counter(), old_key->certificate_body().counter());
  EXPECT_TRUE(BundleOf(*root).VerifyTao(old_tao, NowMs(), 0, false).ok());
  EXPECT_EQ(m->rotations(), 2u);
}

TEST(IssuingKeyTest, PrivateKeysLiveInTheLockedHeapAndAreFreedOnRotationAndShutdown) {
  auto root = *SoftwareRootSigner::Generate();
  // Warm up: the first key generation also puts OpenSSL's private DRBG state
  // into the secure heap, for good.
  ASSERT_TRUE(LockedEd25519Key::Generate().ok());
  const size_t before = SecureHeapBytesInUse();
  auto m = *IssuingKeyManager::Create(root.get(), TestIssuingOptions());
  const size_t with_one = SecureHeapBytesInUse();
  EXPECT_GT(with_one, before) << "issuing private key is not in OpenSSL's secure heap";
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(m->Rotate().ok());
  EXPECT_EQ(SecureHeapBytesInUse(), with_one) << "rotated-out keys were not freed";
  m->Shutdown();
  EXPECT_EQ(SecureHeapBytesInUse(), before) << "shutdown did not free the issuing key";
  EXPECT_EQ(m->Current().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(IssuingKeyTest, TaoOutlivingItsCertificateIsNotSigned) {
  auto root = *SoftwareRootSigner::Generate();
  auto m = *IssuingKeyManager::Create(root.get(), TestIssuingOptions());
  auto body = testing::ValidTaoBody();
  body.set_expires_at_ms((*m->Current())->certificate_body().not_after_ms() + 1);
  body.set_not_before_ms(body.expires_at_ms() - 60'000);
  EXPECT_EQ(m->SignTao(body).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(IssuingKeyTest, KeyPastItsIssuanceDeadlineIsNotUsed) {
  auto root = *SoftwareRootSigner::Generate();
  taogate::testing::ManualClock now(NowMs());
  auto o = TestIssuingOptions();
  o.clock = &now;
  auto m = *IssuingKeyManager::Create(root.get(), o);
  now.Advance(o.certificate_lifetime_ms - o.max_tao_lifetime_ms + 1);
  EXPECT_EQ(m->Current().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(m->Rotate().ok());
  EXPECT_TRUE(m->Current().ok());
}

TEST(IssuingKeyTest, FailedRotationStopsIssuanceUntilTheRootReturns) {
  SwitchableRoot root;
  auto m = *IssuingKeyManager::Create(&root, TestIssuingOptions());
  root.up_ = false;
  absl::Status st = m->Rotate();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("root offline"), std::string::npos) << st;
  EXPECT_EQ(m->Current().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(m->SignTao(testing::ValidTaoBody()).status().code(), absl::StatusCode::kUnavailable);
  auto down = m->Describe();
  EXPECT_FALSE(down.issuing);
  EXPECT_EQ(down.last_error, "root key could not certify a new issuing key: root offline");
  EXPECT_TRUE(down.software_mode);
  root.up_ = true;
  ASSERT_TRUE(m->Rotate().ok());
  EXPECT_TRUE(m->SignTao(testing::ValidTaoBody()).ok());
  auto up = m->Describe();
  EXPECT_TRUE(up.issuing);
  EXPECT_TRUE(up.last_error.empty());
  EXPECT_EQ(up.key_id, (*m->Current())->key_id());
  EXPECT_EQ(up.rotations, 2u);
}

TEST(IssuingKeyTest, CreateFailsWithoutARoot) {
  SwitchableRoot root;
  root.up_ = false;
  EXPECT_EQ(IssuingKeyManager::Create(&root, TestIssuingOptions()).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(IssuingKeyTest, SchedulerRotatesAndReportsEachRotation) {
  auto root = *SoftwareRootSigner::Generate();
  auto o = TestIssuingOptions();
  o.rotate_every_ms = 50;
  std::atomic<int> seen{0};
  o.on_rotate = [&](const IssuingKey&) { ++seen; };
  auto m = *IssuingKeyManager::Create(root.get(), o);
  m->StartScheduler();
  for (int i = 0; i < 200 && seen < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  m->StopScheduler();
  EXPECT_GE(seen.load(), 4);
  EXPECT_EQ(m->rotations(), static_cast<uint64_t>(seen.load()));
}

TEST(SoftwareRootSignerTest, LoadOrCreatePersistsOnePrivateKeyFile) {
  taogate::testing::TempDir dir;
  const std::string path = (dir.path() / "dev-root.pem").string();
  auto first = SoftwareRootSigner::LoadOrCreate(path);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto second = SoftwareRootSigner::LoadOrCreate(path);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->key_id(), (*first)->key_id());
  EXPECT_TRUE((*second)->software_mode());
  taogate::testing::WriteFile(path, "not a key");
  EXPECT_EQ(SoftwareRootSigner::LoadOrCreate(path).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(IssuingKeyTest, InconsistentScheduleRefused) {
  auto root = *SoftwareRootSigner::Generate();
  auto o = TestIssuingOptions();
  o.rotate_every_ms = o.certificate_lifetime_ms;  // TAOs would outlive the certificate
  EXPECT_EQ(IssuingKeyManager::Create(root.get(), o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace taogate::keys
