#include "taogate/governance/webauthn.h"

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "taogate/common/crypto.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::governance::webauthn {
namespace {

constexpr uint8_t kUserPresent = 0x01;
constexpr uint8_t kUserVerified = 0x04;
constexpr uint8_t kAttestedData = 0x40;
constexpr size_t kAuthDataMin = 37;  // rpIdHash(32) flags(1) signCount(4)

struct CborFree {
  void operator()(cbor_item_t* p) const { cbor_decref(&p); }
};
using CborPtr = std::unique_ptr<cbor_item_t, CborFree>;
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

uint32_t Be32(std::string_view s) {
  return (uint32_t(uint8_t(s[0])) << 24) | (uint32_t(uint8_t(s[1])) << 16) |
         (uint32_t(uint8_t(s[2])) << 8) | uint32_t(uint8_t(s[3]));
}

// Steps 7.1.7-10 / 7.2.11-14: the client data the browser signed for.
absl::Status CheckClientData(const RelyingParty& rp, std::string_view type,
                             std::string_view expected_challenge, std::string_view json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("webauthn: clientDataJSON is not a JSON object");
  auto str = [&](const char* k) -> std::string {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str("type") != type)
    return absl::UnauthenticatedError(StrCat("webauthn: clientData type is \"", str("type"), "\", want ", type));
  std::string challenge;
  if (!absl::WebSafeBase64Unescape(str("challenge"), &challenge) ||
      !crypto::ConstantTimeEqual(crypto::AsBytes(challenge), crypto::AsBytes(expected_challenge)))
    return absl::UnauthenticatedError("webauthn: the assertion is for a different challenge");
  if (str("origin") != rp.origin)
    return absl::UnauthenticatedError(
        StrCat("webauthn: origin \"", str("origin"), "\" is not the console's (", rp.origin, ")"));
  if (auto it = j.find("crossOrigin"); it != j.end() && it->is_boolean() && it->get<bool>())
    return absl::UnauthenticatedError("webauthn: made in a cross-origin frame");
  return absl::OkStatus();
}

// Steps 7.1.13-15 / 7.2.15-17.
absl::Status CheckAuthData(const RelyingParty& rp, std::string_view auth) {
  if (auth.size() < kAuthDataMin) return absl::InvalidArgumentError("webauthn: authenticatorData is too short");
  const auto want = crypto::Sha256(rp.id);
  if (!crypto::ConstantTimeEqual(crypto::AsBytes(auth.substr(0, 32)), want))
    return absl::UnauthenticatedError(StrCat("webauthn: made for another relying party (rp id is ", rp.id, ")"));
  const uint8_t flags = uint8_t(auth[32]);
  if (!(flags & kUserPresent)) return absl::UnauthenticatedError("webauthn: user presence flag not set");
  if (rp.require_user_verification && !(flags & kUserVerified))
    return absl::UnauthenticatedError("webauthn: user verification required but not performed");
  return absl::OkStatus();
}

const cbor_item_t* MapGet(const cbor_item_t* map, std::string_view text_key) {
  const size_t n = cbor_map_size(map);
  const cbor_pair* p = cbor_map_handle(map);
  for (size_t i = 0; i < n; ++i)
    if (cbor_isa_string(p[i].key) && cbor_string_is_definite(p[i].key) &&
        std::string_view(reinterpret_cast<const char*>(cbor_string_handle(p[i].key)),
                         cbor_string_length(p[i].key)) == text_key)
      return p[i].value;
  return nullptr;
}

// COSE integer keys: kty 1, alg 3, crv -1, x -2, y -3.
const cbor_item_t* MapGetInt(const cbor_item_t* map, int64_t key) {
  const size_t n = cbor_map_size(map);
  const cbor_pair* p = cbor_map_handle(map);
  for (size_t i = 0; i < n; ++i) {
    const cbor_item_t* k = p[i].key;
    if (key >= 0 && cbor_isa_uint(k) && int64_t(cbor_get_int(k)) == key) return p[i].value;
    if (key < 0 && cbor_isa_negint(k) && -1 - int64_t(cbor_get_int(k)) == key) return p[i].value;
  }
  return nullptr;
}

std::optional<int64_t> IntOf(const cbor_item_t* v) {
  if (v == nullptr) return std::nullopt;
  if (cbor_isa_uint(v)) return int64_t(cbor_get_int(v));
  if (cbor_isa_negint(v)) return -1 - int64_t(cbor_get_int(v));
  return std::nullopt;
}

std::optional<std::string_view> BytesOf(const cbor_item_t* v) {
  if (v == nullptr || !cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v)) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(cbor_bytestring_handle(v)), cbor_bytestring_length(v));
}

// The COSE_Key (RFC 9053 EC2) of an ES256 credential, as SPKI DER.
absl::StatusOr<std::string> CoseToSpki(const cbor_item_t* key) {
  if (!cbor_isa_map(key)) return absl::InvalidArgumentError("webauthn: credential public key is not a COSE map");
  if (IntOf(MapGetInt(key, 1)) != 2 || IntOf(MapGetInt(key, 3)) != -7 || IntOf(MapGetInt(key, -1)) != 1)
    return absl::InvalidArgumentError("webauthn: only ES256 (EC2, P-256) credentials are accepted");
  auto x = BytesOf(MapGetInt(key, -2));
  auto y = BytesOf(MapGetInt(key, -3));
  if (!x || !y || x->size() != 32 || y->size() != 32)
    return absl::InvalidArgumentError("webauthn: EC2 key coordinates must be 32 bytes each");
  std::string point = StrCat(std::string(1, '\x04'), *x, *y);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr),
                                                                  &EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1)
    return absl::InvalidArgumentError("webauthn: the EC2 point is not on P-256");
  PkeyPtr pkey(raw);
  // fromdata does not check the point; the public-key check does.
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> check(EVP_PKEY_CTX_new(pkey.get(), nullptr),
                                                                    &EVP_PKEY_CTX_free);
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    return absl::InvalidArgumentError("webauthn: the EC2 point is not on P-256");
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey.get(), &der);
  if (len <= 0) return absl::InternalError("webauthn: cannot encode the public key");
  std::string out(reinterpret_cast<char*>(der), size_t(len));
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<PkeyPtr> LoadP256(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, long(der.size())));
  if (!key || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
    return absl::InvalidArgumentError("webauthn: public key is not a DER SubjectPublicKeyInfo");
  if (!EVP_PKEY_is_a(key.get(), "EC")) return absl::InvalidArgumentError("webauthn: public key is not an EC key");
  char group[64] = {0};
  size_t glen = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) != 1 ||
      std::string_view(group, glen) != "prime256v1")
    return absl::InvalidArgumentError("webauthn: public key is not on P-256");
  return key;
}

}  // namespace

std::string ApprovalChallenge(std::string_view intent_sha256, bool approve) {
  if (approve) return std::string(intent_sha256);
  const auto h = crypto::Sha256(StrCat(std::string_view("taogate.reject.v1\0", 18), intent_sha256));
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

absl::Status CheckPublicKey(std::string_view public_key_der) { return LoadP256(public_key_der).status(); }

absl::Status CheckCounter(uint32_t stored, uint32_t now) {
  if (stored == 0 && now == 0) return absl::OkStatus();
  if (now <= stored)
    return absl::UnauthenticatedError(StrCat("webauthn: signature counter went from ", stored, " to ", now,
                                             ": the authenticator may be cloned"));
  return absl::OkStatus();
}

absl::StatusOr<Registration> VerifyRegistration(const RelyingParty& rp, std::string_view expected_challenge,
                                                std::string_view client_data_json,
                                                std::string_view attestation_object) {
  TG_RETURN_IF_ERROR(CheckClientData(rp, "webauthn.create", expected_challenge, client_data_json));
  cbor_load_result res{};
  CborPtr att(cbor_load(reinterpret_cast<cbor_data>(attestation_object.data()), attestation_object.size(), &res));
  if (!att || res.error.code != CBOR_ERR_NONE || !cbor_isa_map(att.get()))
    return absl::InvalidArgumentError("webauthn: attestationObject is not a CBOR map");
  const cbor_item_t* fmt = MapGet(att.get(), "fmt");
  if (fmt == nullptr || !cbor_isa_string(fmt) || !cbor_string_is_definite(fmt))
    return absl::InvalidArgumentError("webauthn: attestationObject has no fmt");
  const std::string_view fmt_text(reinterpret_cast<const char*>(cbor_string_handle(fmt)), cbor_string_length(fmt));
  if (fmt_text != "none")
    return absl::InvalidArgumentError(
        StrCat("webauthn: attestation format \"", fmt_text, "\" refused: the console asks for \"none\""));
  auto auth = BytesOf(MapGet(att.get(), "authData"));
  if (!auth) return absl::InvalidArgumentError("webauthn: attestationObject has no authData");
  TG_RETURN_IF_ERROR(CheckAuthData(rp, *auth));
  if (!(uint8_t((*auth)[32]) & kAttestedData))
    return absl::InvalidArgumentError("webauthn: registration without attested credential data");
  // aaguid(16) credentialIdLength(2) credentialId COSE_Key [extensions]
  constexpr size_t kCredStart = kAuthDataMin + 16;
  if (auth->size() < kCredStart + 2) return absl::InvalidArgumentError("webauthn: attested credential data truncated");
  const size_t id_len = (size_t(uint8_t((*auth)[kCredStart])) << 8) | uint8_t((*auth)[kCredStart + 1]);
  if (id_len == 0 || id_len > 1023 || auth->size() < kCredStart + 2 + id_len)
    return absl::InvalidArgumentError("webauthn: credential id length is invalid");
  Registration r;
  r.credential_id = std::string(auth->substr(kCredStart + 2, id_len));
  const std::string_view cose = auth->substr(kCredStart + 2 + id_len);
  cbor_load_result kres{};
  CborPtr key(cbor_load(reinterpret_cast<cbor_data>(cose.data()), cose.size(), &kres));
  if (!key || kres.error.code != CBOR_ERR_NONE)
    return absl::InvalidArgumentError("webauthn: credential public key is not CBOR");
  TG_ASSIGN_OR_RETURN(r.public_key, CoseToSpki(key.get()));
  r.sign_count = Be32(auth->substr(33, 4));
  r.authenticator_data = std::string(*auth);
  return r;
}

absl::StatusOr<uint32_t> VerifyAssertion(const RelyingParty& rp, std::string_view expected_challenge,
                                         std::string_view public_key_der, const Assertion& a) {
  TG_RETURN_IF_ERROR(CheckClientData(rp, "webauthn.get", expected_challenge, a.client_data_json));
  TG_RETURN_IF_ERROR(CheckAuthData(rp, a.authenticator_data));
  TG_ASSIGN_OR_RETURN(PkeyPtr key, LoadP256(public_key_der));
  const auto client_hash = crypto::Sha256(a.client_data_json);
  std::string signed_bytes = StrCat(a.authenticator_data,
                                    std::string_view(reinterpret_cast<const char*>(client_hash.data()), client_hash.size()));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
    return absl::InternalError("webauthn: cannot set up ECDSA verification");
  if (EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(a.signature.data()), a.signature.size(),
                       reinterpret_cast<const unsigned char*>(signed_bytes.data()), signed_bytes.size()) != 1)
    return absl::UnauthenticatedError("webauthn: the assertion signature does not verify");
  return Be32(a.authenticator_data.substr(33, 4));
}

}  // namespace taogate::governance::webauthn
