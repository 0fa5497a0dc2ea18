// Helpers for tests/keys: a swtpm per test, and certificates built by hand
// (to forge, tamper and expire them).
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "tao.pb.h"
#include "taogate/keys/issuing_key.h"
#include "taogate/keys/root_signer.h"
#include "taogate/keys/swtpm.h"
#include "taogate/keys/trust_bundle.h"
#include "tao/tao_testing.h"
#include "testing/testing.h"

namespace taogate::keys::testing {

using ::taogate::testing::NowMs;
using ::taogate::testing::ValidTaoBody;

// One fresh swtpm in its own temp dir per test; killed in TearDown.
class SwtpmTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::string tcti() const { return tpm_->tcti(); }
  // A second, independent TPM (another machine's), started on demand.
  Swtpm& OtherTpm();

  taogate::testing::TempDir dir_;
  std::unique_ptr<Swtpm> tpm_;
  std::unique_ptr<Swtpm> other_;
};

// The same swtpm with the root key created (`keys init`) in SetUp.
class InitializedTpmTest : public SwtpmTest {
 protected:
  void SetUp() override;
  // A TpmRootSigner on this TPM; nullptr (and a test failure) if it cannot open.
  std::unique_ptr<TpmRootSigner> OpenRoot(int sign_timeout_ms = 5000);
  // `keys init --force`: another key at the root's handle (the attacker's swap).
  absl::Status ReplaceRootKey();
};

// A certificate body for `issuing` as `root` would sign it, valid now-1m..now+1h.
v1::IssuerCertificateBody CertBody(const std::array<uint8_t, 32>& issuing_public_key,
                                   const RootSigner& root);
// Signs `body` (serialized as given) with `root` under the certificate domain.
std::string SignCert(RootSigner& root, const v1::IssuerCertificateBody& body);
std::string SignCertBytes(RootSigner& root, const std::string& body_bytes);

TrustBundle BundleOf(const RootSigner& root, bool software = false);

// Options that keep test keys short-lived but valid for TAOs of up to 60 s.
IssuingKeyOptions TestIssuingOptions();

}  // namespace taogate::keys::testing
