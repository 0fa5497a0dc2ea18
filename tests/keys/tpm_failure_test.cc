// A TPM that dies, hangs or was never there: issuance fails closed with a
// readable error (never a software fallback) and recovers when it returns.
#include <signal.h>

#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "taogate/keys/keys_init.h"

namespace taogate::keys {
namespace {

using testing::NowMs;

using TpmFailureTest = testing::InitializedTpmTest;

TEST_F(TpmFailureTest, KilledTpmStopsIssuanceAndRecoversWhenItReturns) {
  auto root = OpenRoot();
  ASSERT_NE(root, nullptr);
  auto m = *IssuingKeyManager::Create(root.get(), testing::TestIssuingOptions());
  ASSERT_TRUE(m->SignTao(testing::ValidTaoBody()).ok());

  tpm_->Kill();
  absl::Status st = m->Rotate();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("TPM"), std::string::npos) << st;
  auto refused = m->SignTao(testing::ValidTaoBody());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ(root->CheckHealth().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(tpm_->Restart().ok());
  ASSERT_TRUE(m->Rotate().ok()) << m->last_rotation_status();
  auto t = m->SignTao(testing::ValidTaoBody());
  ASSERT_TRUE(t.ok()) << t.status();
  auto body = testing::BundleOf(*root).VerifyTao(*t, NowMs(), 0, /*strict=*/true);
  EXPECT_TRUE(body.ok()) << body.status();
}

TEST_F(TpmFailureTest, HungTpmTimesOutThenRecovers) {
  auto root = OpenRoot(/*sign_timeout_ms=*/300);
  ASSERT_NE(root, nullptr);
  ASSERT_EQ(kill(tpm_->pid(), SIGSTOP), 0);
  auto sig = root->Sign("hello");
  kill(tpm_->pid(), SIGCONT);
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kDeadlineExceeded) << sig.status();
  EXPECT_NE(sig.status().message().find("did not answer"), std::string::npos) << sig.status();
  auto again = root->Sign("hello");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(root->public_key().Verify("hello", *again).ok());
}

TEST_F(TpmFailureTest, SignerCannotStartWithoutTpm) {
  tpm_->Kill();
  TpmRootSignerOptions so;
  so.tcti = tcti();
  auto s = TpmRootSigner::Open(so);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  EXPECT_NE(s.status().message().find("TPM"), std::string::npos) << s.status();
}

TEST_F(TpmFailureTest, SignerCannotStartWithoutAKey) {
  auto fresh = Swtpm::Start((dir_.path() / "fresh").string());
  ASSERT_TRUE(fresh.ok());
  TpmRootSignerOptions so;
  so.tcti = (*fresh)->tcti();
  auto s = TpmRootSigner::Open(so);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound) << s.status();
  EXPECT_NE(s.status().message().find("keys init"), std::string::npos) << s.status();
}

TEST_F(TpmFailureTest, SignerRefusesAKeySwappedWhileRunning) {
  auto root = OpenRoot();
  ASSERT_NE(root, nullptr);
  // The TPM restarts and, meanwhile, someone replaces the key. (swtpm serves
  // one connection at a time, so the swap happens while the signer's
  // connection is dead.)
  tpm_->Kill();
  ASSERT_TRUE(tpm_->Restart().ok());
  ASSERT_TRUE(ReplaceRootKey().ok());
  // The swtpm TCTI reconnects per command, so the TPM happily signs with the
  // new key at the same handle; the signer must refuse that signature, and
  // refuse the new key when it reconnects.
  auto first = root->Sign("x");
  EXPECT_EQ(first.status().code(), absl::StatusCode::kFailedPrecondition) << first.status();
  EXPECT_NE(first.status().message().find("pinned root key"), std::string::npos) << first.status();
  auto sig = root->Sign("x");
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kFailedPrecondition) << sig.status();
  EXPECT_NE(sig.status().message().find("TPM root key changed"), std::string::npos) << sig.status();
}

}  // namespace
}  // namespace taogate::keys
