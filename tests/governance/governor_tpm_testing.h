// Fixture for governor tests against a real swtpm: one swtpm per test (skipped
// when swtpm is not installed) and one GovernorProcess; the governor is
// stopped before the TPM goes away.
#pragma once

#include <cstdlib>
#include <memory>

#include <gtest/gtest.h>

#include "governance/governor_testing.h"
#include "taogate/keys/swtpm.h"

namespace taogate::governance::testing {

class GovernorSwtpmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (system("command -v swtpm >/dev/null 2>&1") != 0) GTEST_SKIP() << "swtpm is not installed";
    auto t = keys::Swtpm::Start((tpm_dir_.path() / "tpm").string());
    ASSERT_TRUE(t.ok()) << t.status();
    tpm_ = *std::move(t);
  }
  void TearDown() override {
    gov_.Stop();
    tpm_.reset();
  }

  taogate::testing::TempDir tpm_dir_;
  std::unique_ptr<keys::Swtpm> tpm_;
  GovernorProcess gov_;
};

}  // namespace taogate::governance::testing
