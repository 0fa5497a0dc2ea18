// The governor's TPM probe (TpmRootSigner::CheckHealth): bounded in time on a
// hung TPM, catches a key swapped at the handle, and leaves no transient
// object behind (swtpm has 3 slots and no resource manager).
#include <signal.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "src/esys.h"

namespace taogate::keys {
namespace {

class TpmProbeTest : public testing::InitializedTpmTest {
 protected:
  void SetUp() override {
    InitializedTpmTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    root_ = OpenRoot(/*sign_timeout_ms=*/300);
    ASSERT_NE(root_, nullptr);
  }
  void TearDown() override {
    root_.reset();
    InitializedTpmTest::TearDown();
  }
  // Transient objects loaded in the TPM now (a fresh connection).
  uint32_t TransientObjects() {
    auto ctx = internal::EsysContext::Open(tcti());
    if (!ctx.ok()) return 99;
    TPMI_YES_NO more = TPM2_NO;
    TPMS_CAPABILITY_DATA* raw = nullptr;
    TSS2_RC rc = Esys_GetCapability(ctx->get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_HANDLES, TPM2_TRANSIENT_FIRST, 16, &more, &raw);
    internal::EsysPtr<TPMS_CAPABILITY_DATA> data(raw);
    return rc == TSS2_RC_SUCCESS ? data->data.handles.count : 99;
  }
  std::unique_ptr<TpmRootSigner> root_;
};

TEST_F(TpmProbeTest, HungTpmFailsTheProbeWithinItsTimeout) {
  ASSERT_TRUE(root_->CheckHealth().ok());
  ASSERT_EQ(kill(tpm_->pid(), SIGSTOP), 0);
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = root_->CheckHealth();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(st.ok());
  // The swtpm TCTI blocks in receive whatever the ESYS timeout: the bound
  // is the caller's (2 x sign_timeout_ms + 1 s), and the worker recovers.
  EXPECT_LT(took, std::chrono::milliseconds(2500)) << st;
  // Probes while it hangs do not pile up behind the stuck one (each would
  // wait 1.6 s in the queue): one waits, the others fail at once.
  const auto again = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(root_->CheckHealth().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::milliseconds(2500));
  kill(tpm_->pid(), SIGCONT);
  // Back: the stuck and queued probes drain, then probes succeed again.
  absl::Status back;
  for (int i = 0; i < 20 && !(back = root_->CheckHealth()).ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(back.ok()) << back;
}

TEST_F(TpmProbeTest, ProbeRefusesAKeySwappedAtTheHandle) {
  ASSERT_TRUE(root_->CheckHealth().ok());
  ASSERT_TRUE(ReplaceRootKey().ok());
  absl::Status st = root_->CheckHealth();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("TPM root key changed"), std::string::npos) << st;
}

TEST_F(TpmProbeTest, ProbesLeaveNoTransientObject) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(root_->CheckHealth().ok());
  EXPECT_EQ(TransientObjects(), 0u);
}

}  // namespace
}  // namespace taogate::keys
