#include "taogate/keys/trust_bundle.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/tao/certificate.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

namespace taogate::keys {
namespace {

using nlohmann::json;

absl::StatusOr<TrustedRoot> ParseRoot(const json& j, size_t index) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("trust bundle: roots[", index, "]: ", why));
  };
  if (!j.is_object()) return bad("not an object");
  static const std::set<std::string> kKeys = {"name", "public_key_pem", "not_before_ms",
                                              "not_after_ms", "software"};
  for (const auto& [k, v] : j.items())
    if (!kKeys.count(k)) return bad(StrCat("unknown key \"", k, "\""));
  if (!j.contains("public_key_pem") || !j["public_key_pem"].is_string())
    return bad("public_key_pem (string) is required");
  absl::StatusOr<PublicKey> key = PublicKey::FromPem(j["public_key_pem"].get<std::string>());
  if (!key.ok()) return bad(std::string(key.status().message()));
  TrustedRoot r{"", *std::move(key)};
  if (j.contains("name")) {
    if (!j["name"].is_string()) return bad("name must be a string");
    r.name = j["name"].get<std::string>();
  }
  for (auto [field, out] : {std::pair{"not_before_ms", &r.not_before_ms},
                            std::pair{"not_after_ms", &r.not_after_ms}}) {
    if (!j.contains(field)) continue;
    if (!j[field].is_number_integer()) return bad(StrCat(field, " must be an integer (unix ms)"));
    *out = j[field].get<int64_t>();
  }
  if (r.not_after_ms <= r.not_before_ms) return bad("not_after_ms must be > not_before_ms");
  if (j.contains("software")) {
    if (!j["software"].is_boolean()) return bad("software must be true or false");
    r.software = j["software"].get<bool>();
  }
  if (r.name.empty()) r.name = ToHex(r.public_key.key_id()).substr(0, 16);
  return r;
}

}  // namespace

absl::StatusOr<TrustBundle> TrustBundle::FromRoots(std::vector<TrustedRoot> roots) {
  if (roots.empty()) return absl::InvalidArgumentError("trust bundle: no roots");
  if (roots.size() > static_cast<size_t>(kMaxRoots))
    return absl::InvalidArgumentError("trust bundle: too many roots");
  std::set<KeyId> seen;
  for (const auto& r : roots)
    if (!seen.insert(r.public_key.key_id()).second)
      return absl::InvalidArgumentError(StrCat("trust bundle: root ", r.name, " is listed twice"));
  return TrustBundle(std::move(roots));
}

absl::StatusOr<TrustBundle> TrustBundle::Parse(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("trust bundle: not a JSON object");
  for (const auto& [k, v] : j.items())
    if (k != "version" && k != "roots")
      return absl::InvalidArgumentError(StrCat("trust bundle: unknown key \"", k, "\""));
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int64_t>() != 1)
    return absl::InvalidArgumentError("trust bundle: version must be 1");
  if (!j.contains("roots") || !j["roots"].is_array())
    return absl::InvalidArgumentError("trust bundle: roots (array) is required");
  std::vector<TrustedRoot> roots;
  for (size_t i = 0; i < j["roots"].size(); ++i) {
    TG_ASSIGN_OR_RETURN(TrustedRoot r, ParseRoot(j["roots"][i], i));
    roots.push_back(std::move(r));
  }
  return FromRoots(std::move(roots));
}

absl::StatusOr<TrustBundle> TrustBundle::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open trust bundle"));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<TrustBundle> b = Parse(ss.str());
  if (!b.ok()) return absl::Status(b.status().code(), StrCat(path, ": ", b.status().message()));
  return b;
}

std::string TrustBundle::ToJson(const std::vector<TrustedRoot>& roots) {
  json out = {{"version", 1}, {"roots", json::array()}};
  for (const auto& r : roots) {
    json jr = {{"name", r.name}, {"public_key_pem", r.public_key.ToPem()},
               {"not_before_ms", r.not_before_ms}, {"software", r.software}};
    if (r.not_after_ms != INT64_MAX) jr["not_after_ms"] = r.not_after_ms;
    out["roots"].push_back(std::move(jr));
  }
  return out.dump(2) + "\n";
}

absl::StatusOr<VerifiedIssuer> TrustBundle::VerifyCertificate(std::string_view cert_bytes,
                                                              int64_t now_ms, bool strict,
                                                              int64_t skew_ms) const {
  TG_ASSIGN_OR_RETURN(tao::DecodedCertificate d, tao::DecodeIssuerCertificate(cert_bytes));
  const v1::IssuerCertificateBody& b = d.body;
  const TrustedRoot* root = nullptr;
  for (const auto& r : roots_)
    if (crypto::ConstantTimeEqual(r.public_key.key_id(), crypto::AsBytes(b.root_key_id()))) root = &r;
  if (root == nullptr)
    return absl::UnauthenticatedError(
        StrCat("issuer certificate: unknown root key ", ToHex(b.root_key_id()), " (not in the trust bundle)"));
  std::string msg(kIssuerCertDomain);
  msg.append(d.cert.body());
  if (!root->public_key.Verify(msg, d.cert.signature()).ok())
    return absl::UnauthenticatedError(
        StrCat("issuer certificate: root signature does not verify (root ", root->name, ")"));
  // Only now, with the body authenticated, do its claims mean anything.
  if (strict && (b.software_mode() || root->software ||
                 root->public_key.algorithm() != KeyAlgorithm::kEcdsaP256))
    return absl::PermissionDeniedError(
        StrCat("issuer certificate: software-mode root ", root->name, " refused in strict mode"));
  if (b.not_before_ms() < root->not_before_ms || b.not_before_ms() > root->not_after_ms)
    return absl::FailedPreconditionError(StrCat(
        "issuer certificate: issued outside the validity window of root ", root->name));
  if (now_ms > b.not_after_ms() + skew_ms)
    return absl::FailedPreconditionError(
        StrCat("issuer certificate: expired at ", b.not_after_ms(), " ms (now ", now_ms, ")"));
  if (now_ms + skew_ms < b.not_before_ms())
    return absl::FailedPreconditionError(
        StrCat("issuer certificate: not yet valid until ", b.not_before_ms(), " ms (now ", now_ms, ")"));
  VerifiedIssuer v;
  std::copy(b.issuing_public_key().begin(), b.issuing_public_key().end(), v.issuing_public_key.begin());
  std::copy(b.issuing_key_id().begin(), b.issuing_key_id().end(), v.issuing_key_id.begin());
  v.root_key_id = root->public_key.key_id();
  v.root_name = root->name;
  v.purpose = b.purpose();
  v.instance = b.instance();
  v.counter = b.counter();
  v.not_before_ms = b.not_before_ms();
  v.not_after_ms = b.not_after_ms();
  v.software_mode = b.software_mode() || root->software;
  return v;
}

absl::StatusOr<v1::TaoBody> TrustBundle::VerifyTao(const v1::Tao& t, int64_t now_ms,
                                                   int64_t skew_ms, bool strict) const {
  TG_ASSIGN_OR_RETURN(v1::TaoBody body, tao::DecodeBody(t.body()));
  TG_ASSIGN_OR_RETURN(VerifiedIssuer issuer,
                      VerifyCertificate(t.issuer_certificate(), now_ms, strict, skew_ms));
  if (issuer.purpose != kPurposeTaoIssuance)
    return absl::PermissionDeniedError(
        StrCat("issuer certificate purpose is \"", issuer.purpose, "\", not \"tao-issuance\""));
  TG_RETURN_IF_ERROR(tao::VerifyTaoSignature(t, body, issuer.issuing_public_key));
  if (body.not_before_ms() < issuer.not_before_ms || body.expires_at_ms() > issuer.not_after_ms)
    return absl::FailedPreconditionError("TAO validity window is not inside its issuer certificate's");
  TG_RETURN_IF_ERROR(tao::CheckTimeWindow(body, now_ms, skew_ms));
  return body;
}

}  // namespace taogate::keys
