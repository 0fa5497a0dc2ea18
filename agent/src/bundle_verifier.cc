#include "taogate/agent/bundle_verifier.h"

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/tao/signing.h"

namespace taogate::agent {

namespace {
constexpr size_t kMaxCachedCertificates = 256;
}  // namespace

absl::StatusOr<keys::VerifiedIssuer> BundleVerifier::Certificate(const std::string& cert_bytes,
                                                                 int64_t now_ms) {
  crypto::Sha256Digest key = crypto::Sha256(cert_bytes);
  std::shared_ptr<const keys::TrustBundle> bundle;
  {
    std::lock_guard<std::mutex> l(mu_);
    bundle = bundle_;
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      const keys::VerifiedIssuer& v = it->second;
      if (now_ms > v.not_after_ms + skew_ms_ || now_ms + skew_ms_ < v.not_before_ms) {
        cache_.erase(it);  // outside its window: the full check below says why
      } else {
        return v;
      }
    }
  }
  TG_ASSIGN_OR_RETURN(keys::VerifiedIssuer v, bundle->VerifyCertificate(cert_bytes, now_ms, strict_, skew_ms_));
  std::lock_guard<std::mutex> l(mu_);
  if (bundle != bundle_) return v;  // replaced meanwhile: do not cache under the new bundle
  if (cache_.size() >= kMaxCachedCertificates) cache_.clear();
  cache_.emplace(key, v);
  return v;
}

void BundleVerifier::Replace(keys::TrustBundle bundle) {
  auto next = std::make_shared<const keys::TrustBundle>(std::move(bundle));
  std::lock_guard<std::mutex> l(mu_);
  bundle_ = std::move(next);
  cache_.clear();
}

absl::Status BundleVerifier::VerifyChain(const v1::Tao& tao, const v1::TaoBody& body, int64_t now_ms) {
  TG_ASSIGN_OR_RETURN(keys::VerifiedIssuer issuer, Certificate(tao.issuer_certificate(), now_ms));
  if (issuer.purpose != keys::kPurposeTaoIssuance)
    return absl::PermissionDeniedError(
        StrCat("issuer certificate purpose is \"", issuer.purpose, "\", not tao-issuance"));
  TG_RETURN_IF_ERROR(tao::VerifyTaoSignature(tao, body, issuer.issuing_public_key));
  if (body.not_before_ms() < issuer.not_before_ms || body.expires_at_ms() > issuer.not_after_ms)
    return absl::FailedPreconditionError("TAO validity window is not inside its issuer certificate's");
  return absl::OkStatus();
}

}  // namespace taogate::agent
