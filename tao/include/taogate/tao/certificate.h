// Structural decoding of an IssuerCertificate (the delegation from the
// TPM-anchored root to a short-lived Ed25519 issuing key). This checks shape
// only; the root signature and trust bundle are checked by taogate::keys.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "tao.pb.h"

namespace taogate::tao {

struct DecodedCertificate {
  v1::IssuerCertificate cert;
  v1::IssuerCertificateBody body;
};

// InvalidArgument for anything malformed (sizes, empty window, key id that
// does not match the key, unknown critical fields).
absl::StatusOr<DecodedCertificate> DecodeIssuerCertificate(std::string_view bytes);

}  // namespace taogate::tao
