// WebAuthn (https://www.w3.org/TR/webauthn-2/) for the console: verifying a
// registration (navigator.credentials.create) and an assertion
// (navigator.credentials.get) made with an ES256 (ECDSA P-256, SHA-256)
// credential, as a relying party must (sections 7.1 and 7.2):
//   clientDataJSON: type, challenge (exact bytes), origin, not crossOrigin;
//   authenticatorData: rpIdHash = SHA-256(rp id), user present, user
//   verified when required, the signature counter;
//   registration: attestation format "none" (the console asks for none:
//   approvers are vouched for by the admin's enrollment link and the policy
//   bundle, not by an authenticator vendor), the COSE EC2 P-256 key;
//   assertion: the ECDSA signature over authenticatorData || SHA-256(
//   clientDataJSON) with the enrolled key.
// Each refusal is Unauthenticated (or InvalidArgument for malformed input)
// with a message naming the check. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace taogate::governance::webauthn {

struct RelyingParty {
  std::string id;      // "localhost", "console.example.com"
  std::string origin;  // "https://localhost:8443"
  bool require_user_verification = false;
};

struct Registration {
  std::string credential_id;  // raw bytes
  std::string public_key;     // SubjectPublicKeyInfo DER (P-256)
  uint32_t sign_count = 0;
  std::string authenticator_data;
};

absl::StatusOr<Registration> VerifyRegistration(const RelyingParty& rp,
                                                std::string_view expected_challenge,
                                                std::string_view client_data_json,
                                                std::string_view attestation_object);

struct Assertion {
  std::string_view client_data_json;
  std::string_view authenticator_data;
  std::string_view signature;  // DER ECDSA signature
};

// Returns the authenticator's signature counter. The caller refuses a counter
// that does not grow (CheckCounter).
absl::StatusOr<uint32_t> VerifyAssertion(const RelyingParty& rp,
                                         std::string_view expected_challenge,
                                         std::string_view public_key_der, const Assertion& a);

// Section 7.2 step 21: a counter that did not grow means a cloned
// authenticator, unless both are 0 (the authenticator keeps no counter).
absl::Status CheckCounter(uint32_t stored, uint32_t now);

// The challenge a console approver's assertion signs (docs/approvals.md):
// approve signs the decision's 32-byte intent_sha256 itself; reject signs
// SHA-256("taogate.reject.v1" 0x00 intent), so neither stands for the other.
std::string ApprovalChallenge(std::string_view intent_sha256, bool approve);

// An SPKI DER that is an EC P-256 public key (policy bundles name them).
absl::Status CheckPublicKey(std::string_view public_key_der);

}  // namespace taogate::governance::webauthn
