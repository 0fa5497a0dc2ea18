// The verifier side: a set of pinned root public keys (the trust bundle
// file, keys_format.h section 4) and the chain check
//   TAO --Ed25519--> issuing key --issuer certificate--> root key in bundle.
//
// Every refusal has its own message (and code):
//   InvalidArgument     malformed TAO or certificate
//   Unauthenticated     "unknown root key", "root signature does not verify",
//                       "TAO signature does not verify"
//   FailedPrecondition  certificate expired / not yet valid / issued outside
//                       its root's window; TAO expired / not yet valid / TAO
//                       window outside its certificate
//   PermissionDenied    software-mode root refused in strict mode; wrong
//                       certificate purpose
// Thread safety: immutable after Load/FromRoots; all methods are const.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/keys/keys_format.h"
#include "taogate/keys/public_key.h"
#include "tao.pb.h"

namespace taogate::keys {

struct TrustedRoot {
  std::string name;
  PublicKey public_key;
  int64_t not_before_ms = 0;
  int64_t not_after_ms = INT64_MAX;
  bool software = false;  // operator marks a development (software) root
};

// What a verified certificate vouches for.
struct VerifiedIssuer {
  std::array<uint8_t, 32> issuing_public_key{};
  KeyId issuing_key_id{};
  KeyId root_key_id{};
  std::string root_name;
  std::string purpose;
  std::string instance;
  uint64_t counter = 0;
  int64_t not_before_ms = 0;
  int64_t not_after_ms = 0;
  bool software_mode = false;
};

class TrustBundle {
 public:
  // Reads and parses the JSON file; InvalidArgument naming the file and the
  // problem for anything malformed (unknown keys included).
  static absl::StatusOr<TrustBundle> Load(const std::string& path);
  static absl::StatusOr<TrustBundle> Parse(std::string_view json);
  static absl::StatusOr<TrustBundle> FromRoots(std::vector<TrustedRoot> roots);
  // The JSON text of a bundle holding `roots` (what `keys init` prints).
  static std::string ToJson(const std::vector<TrustedRoot>& roots);

  const std::vector<TrustedRoot>& roots() const { return roots_; }

  // Checks structure, the root signature, the root's validity window, the
  // certificate's validity at `now_ms` (with `skew_ms` tolerance) and, in
  // strict mode, that neither the certificate nor the root is software-mode
  // and the root is a P-256 (TPM) key.
  absl::StatusOr<VerifiedIssuer> VerifyCertificate(std::string_view cert_bytes, int64_t now_ms,
                                                   bool strict, int64_t skew_ms = 0) const;

  // Decode + certificate chain (purpose "tao-issuance") + TAO signature +
  // TAO window inside the certificate's + TAO time window at now_ms.
  absl::StatusOr<v1::TaoBody> VerifyTao(const v1::Tao& tao, int64_t now_ms, int64_t skew_ms,
                                        bool strict) const;

 private:
  explicit TrustBundle(std::vector<TrustedRoot> roots) : roots_(std::move(roots)) {}
  std::vector<TrustedRoot> roots_;
};

}  // namespace taogate::keys
