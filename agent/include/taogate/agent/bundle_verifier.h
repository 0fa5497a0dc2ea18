// TaoVerifier over the trust bundle: issuer certificate chains to a pinned
// root, purpose "tao-issuance", TAO signature under the certified issuing
// key, TAO window inside the certificate's. The TAO's own time window is the
// Redeemer's check (it has its own reason codes). In strict mode software
// (non-TPM) roots and certificates are refused.
//
// Verified certificates are cached by the SHA-256 of their exact bytes (a
// governor uses one issuing certificate for an hour, so this saves a root
// signature verification per redeem); a cache hit still re-checks the
// certificate's validity window against the current time. Replace() swaps
// the bundle (a reload, docs/agent.md "Reload") and empties the cache: a
// verification uses the old bundle or the new one, never a mix.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "taogate/agent/deps.h"
#include "taogate/common/crypto.h"
#include "taogate/keys/trust_bundle.h"

namespace taogate::agent {

class BundleVerifier final : public TaoVerifier {
 public:
  BundleVerifier(keys::TrustBundle bundle, bool strict, int64_t skew_ms)
      : strict_(strict), skew_ms_(skew_ms),
        bundle_(std::make_shared<const keys::TrustBundle>(std::move(bundle))) {}
  absl::Status VerifyChain(const v1::Tao& tao, const v1::TaoBody& body, int64_t now_ms) override;
  bool strict() const { return strict_; }
  void Replace(keys::TrustBundle bundle);

 private:
  absl::StatusOr<keys::VerifiedIssuer> Certificate(const std::string& cert_bytes, int64_t now_ms);

  const bool strict_;
  const int64_t skew_ms_;
  std::mutex mu_;
  std::shared_ptr<const keys::TrustBundle> bundle_;  // guarded by mu_
  std::map<crypto::Sha256Digest, keys::VerifiedIssuer> cache_;  // guarded by mu_
};

}  // namespace taogate::agent
