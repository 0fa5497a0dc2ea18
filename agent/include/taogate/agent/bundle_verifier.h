// TaoVerifier over the trust bundle: issuer certificate chains to a pinned
// root, purpose "tao-issuance", TAO signature under the certified issuing
// key, TAO window inside the certificate's. The TAO's own time window is the
// Redeemer's check (it has its own reason codes). In strict mode software
// (non-TPM) roots and certificates are refused.
//
// Immutable after construction; thread-safe.
#pragma once

#include "taogate/agent/deps.h"
#include "taogate/keys/trust_bundle.h"

namespace taogate::agent {

class BundleVerifier final : public TaoVerifier {
 public:
  BundleVerifier(keys::TrustBundle bundle, bool strict, int64_t skew_ms)
      : bundle_(std::move(bundle)), strict_(strict), skew_ms_(skew_ms) {}
  absl::Status VerifyChain(const v1::Tao& tao, const v1::TaoBody& body, int64_t now_ms) override;
  bool strict() const { return strict_; }

 private:
  const keys::TrustBundle bundle_;
  const bool strict_;
  const int64_t skew_ms_;
};

}  // namespace taogate::agent
