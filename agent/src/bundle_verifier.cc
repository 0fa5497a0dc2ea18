#include "taogate/agent/bundle_verifier.h"

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/tao/signing.h"

namespace taogate::agent {

absl::Status BundleVerifier::VerifyChain(const v1::Tao& tao, const v1::TaoBody& body, int64_t now_ms) {
  TG_ASSIGN_OR_RETURN(keys::VerifiedIssuer issuer,
                      bundle_.VerifyCertificate(tao.issuer_certificate(), now_ms, strict_, skew_ms_));
  if (issuer.purpose != keys::kPurposeTaoIssuance)
    return absl::PermissionDeniedError(
        StrCat("issuer certificate purpose is \"", issuer.purpose, "\", not tao-issuance"));
  TG_RETURN_IF_ERROR(tao::VerifyTaoSignature(tao, body, issuer.issuing_public_key));
  if (body.not_before_ms() < issuer.not_before_ms || body.expires_at_ms() > issuer.not_after_ms)
    return absl::FailedPreconditionError("TAO validity window is not inside its issuer certificate's");
  return absl::OkStatus();
}

}  // namespace taogate::agent
