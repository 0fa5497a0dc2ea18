// TpmHealth's grace measured on an injected clock: issuance stops exactly
// when the manual clock passes the grace, not after a real wait. The probes
// run on TpmHealth's own thread against a root whose health the test flips.
#include "taogate/governance/tpm_health.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "keys/keys_testing.h"
#include "taogate/keys/root_signer.h"
#include "testing/manual_clock.h"

namespace taogate::governance {
namespace {

// A root that says it is in a TPM and whose CheckHealth the test controls.
class FlakyTpmRoot final : public keys::RootSigner {
 public:
  FlakyTpmRoot() : inner_(*keys::SoftwareRootSigner::Generate()) {}
  const keys::PublicKey& public_key() const override { return inner_->public_key(); }
  bool software_mode() const override { return false; }
  absl::StatusOr<std::string> Sign(std::string_view m) override { return inner_->Sign(m); }
  absl::Status CheckHealth() override {
    return up ? absl::OkStatus() : absl::UnavailableError("TPM gone");
  }
  std::atomic<bool> up{true};

 private:
  std::unique_ptr<keys::SoftwareRootSigner> inner_;
};

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return done();
}

TEST(TpmHealthGraceTest, IssuanceStopsWhenTheClockPassesTheGrace) {
  FlakyTpmRoot root;
  taogate::testing::ManualClock clock;
  auto issuing = keys::IssuingKeyManager::Create(&root, keys::testing::TestIssuingOptions());
  ASSERT_TRUE(issuing.ok()) << issuing.status();
  TpmHealth health(&root, issuing->get(), {.probe_interval_ms = 2, .grace_ms = 60'000, .clock = &clock});
  health.Start();
  root.up = false;
  ASSERT_TRUE(WaitFor([&] { return !health.Get().up; }));
  clock.Advance(59'999);
  EXPECT_TRUE(health.IssuanceAllowed().ok()) << "still within the grace";
  clock.Advance(2);
  EXPECT_EQ(health.IssuanceAllowed().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(health.Get().issuing);
  EXPECT_EQ(static_cast<int64_t>(health.Get().seconds_unreachable), 60);
  root.up = true;
  ASSERT_TRUE(WaitFor([&] { return health.Get().up; }));
  EXPECT_TRUE(health.IssuanceAllowed().ok());
}

}  // namespace
}  // namespace taogate::governance
