// WebAuthn relying-party checks (governance/src/webauthn.h) against
// registrations and assertions built here as an authenticator builds them:
// a real P-256 key (OpenSSL), a real CBOR attestation object (libcbor).
// Each refusal is a forged or misdirected ceremony an attacker could try.
#include "taogate/governance/webauthn.h"

#include "taogate/governance/console.h"

#include <cbor.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "taogate/common/crypto.h"

namespace taogate::governance::webauthn {
namespace {

const RelyingParty kRp{.id = "localhost", .origin = "https://localhost:8443"};

std::string Str(const crypto::Sha256Digest& d) { return std::string(reinterpret_cast<const char*>(d.data()), d.size()); }

struct Authenticator {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  std::string credential_id = "cred-0123456789abcdef";
  ~Authenticator() { EVP_PKEY_free(key); }

  std::string Spki() const {
    unsigned char* der = nullptr;
    int n = i2d_PUBKEY(key, &der);
    std::string out(reinterpret_cast<char*>(der), size_t(n));
    OPENSSL_free(der);
    return out;
  }
  std::string Point() const {
    unsigned char buf[65];
    size_t n = 0;
    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &n);
    return std::string(reinterpret_cast<char*>(buf), n);
  }
  static std::string AuthData(const std::string& rp_id, uint8_t flags, uint32_t counter) {
    std::string a = Str(crypto::Sha256(rp_id));
    a.push_back(char(flags));
    for (int i = 3; i >= 0; --i) a.push_back(char((counter >> (8 * i)) & 0xff));
    return a;
  }
  static std::string ClientData(const std::string& type, const std::string& challenge, const std::string& origin,
                                bool cross_origin = false) {
    nlohmann::json j = {{"type", type},
                        {"challenge", absl::WebSafeBase64Escape(challenge)},
                        {"origin", origin},
                        {"crossOrigin", cross_origin}};
    return j.dump();
  }
  std::string Cose() const {
    std::string p = Point();
    cbor_item_t* m = cbor_new_definite_map(5);
    auto add = [&](cbor_item_t* k, cbor_item_t* v) { cbor_map_add(m, {cbor_move(k), cbor_move(v)}); };
    add(cbor_build_uint8(1), cbor_build_uint8(2));
    add(cbor_build_uint8(3), cbor_build_negint8(6));  // -7: ES256
    add(cbor_build_negint8(0), cbor_build_uint8(1));  // crv: P-256
    add(cbor_build_negint8(1), cbor_build_bytestring(reinterpret_cast<const uint8_t*>(p.data()) + 1, 32));
    add(cbor_build_negint8(2), cbor_build_bytestring(reinterpret_cast<const uint8_t*>(p.data()) + 33, 32));
    return Serialize(m);
  }
  static std::string Serialize(cbor_item_t* item) {
    unsigned char* buf = nullptr;
    size_t cap = 0;
    size_t n = cbor_serialize_alloc(item, &buf, &cap);
    std::string out(reinterpret_cast<char*>(buf), n);
    free(buf);
    cbor_decref(&item);
    return out;
  }
  std::string AttestationObject(const std::string& auth_data, const std::string& fmt = "none") const {
    cbor_item_t* m = cbor_new_definite_map(3);
    cbor_map_add(m, {cbor_move(cbor_build_string("fmt")), cbor_move(cbor_build_string(fmt.c_str()))});
    cbor_map_add(m, {cbor_move(cbor_build_string("attStmt")), cbor_move(cbor_new_definite_map(0))});
    cbor_map_add(m, {cbor_move(cbor_build_string("authData")),
                     cbor_move(cbor_build_bytestring(reinterpret_cast<const uint8_t*>(auth_data.data()),
                                                     auth_data.size()))});
    return Serialize(m);
  }
  // authenticatorData with attested credential data (flags UP|AT).
  std::string RegistrationAuthData(const std::string& rp_id = "localhost", uint8_t flags = 0x41) const {
    std::string a = AuthData(rp_id, flags, 0);
    a += std::string(16, '\0');  // aaguid
    a.push_back(char(credential_id.size() >> 8));
    a.push_back(char(credential_id.size() & 0xff));
    a += credential_id + Cose();
    return a;
  }
  std::string Sign(const std::string& auth, const std::string& client_data) const {
    std::string msg = auth + Str(crypto::Sha256(client_data));
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key);
    size_t n = 0;
    EVP_DigestSign(md, nullptr, &n, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    std::string sig(n, '\0');
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &n,
                   reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    sig.resize(n);
    EVP_MD_CTX_free(md);
    return sig;
  }
};

const std::string kChallenge(32, '\x5a');

TEST(WebAuthnRegistrationTest, NoneAttestationYieldsTheCredentialAndItsKey) {
  Authenticator a;
  auto r = VerifyRegistration(kRp, kChallenge, a.ClientData("webauthn.create", kChallenge, kRp.origin),
                              a.AttestationObject(a.RegistrationAuthData()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->credential_id, a.credential_id);
  EXPECT_EQ(r->public_key, a.Spki());
  EXPECT_TRUE(CheckPublicKey(r->public_key).ok());
}

TEST(WebAuthnRegistrationTest, RefusesMisdirectedOrForeignCeremonies) {
  Authenticator a;
  const std::string att = a.AttestationObject(a.RegistrationAuthData());
  auto reg = [&](const std::string& cd, const std::string& obj) {
    return VerifyRegistration(kRp, kChallenge, cd, obj).status();
  };
  // Another challenge (a replayed or foreign registration).
  EXPECT_EQ(reg(a.ClientData("webauthn.create", std::string(32, 'x'), kRp.origin), att).code(),
            absl::StatusCode::kUnauthenticated);
  // A phishing origin.
  EXPECT_EQ(reg(a.ClientData("webauthn.create", kChallenge, "https://evil.example"), att).code(),
            absl::StatusCode::kUnauthenticated);
  // An assertion passed off as a registration.
  EXPECT_EQ(reg(a.ClientData("webauthn.get", kChallenge, kRp.origin), att).code(), absl::StatusCode::kUnauthenticated);
  // Made for another relying party.
  EXPECT_EQ(reg(a.ClientData("webauthn.create", kChallenge, kRp.origin),
                a.AttestationObject(a.RegistrationAuthData("evil.example")))
                .code(),
            absl::StatusCode::kUnauthenticated);
  // No user presence.
  EXPECT_EQ(reg(a.ClientData("webauthn.create", kChallenge, kRp.origin),
                a.AttestationObject(a.RegistrationAuthData("localhost", 0x40)))
                .code(),
            absl::StatusCode::kUnauthenticated);
  // An attestation format the console never asks for.
  EXPECT_EQ(reg(a.ClientData("webauthn.create", kChallenge, kRp.origin),
                a.AttestationObject(a.RegistrationAuthData(), "packed"))
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Garbage.
  EXPECT_FALSE(reg(a.ClientData("webauthn.create", kChallenge, kRp.origin), "\xff\x00garbage").ok());
  EXPECT_FALSE(reg("{not json", att).ok());
}

TEST(WebAuthnAssertionTest, VerifiesTheSignatureAndReturnsTheCounter) {
  Authenticator a;
  const std::string auth = Authenticator::AuthData("localhost", 0x05, 7);
  const std::string cd = Authenticator::ClientData("webauthn.get", kChallenge, kRp.origin);
  const std::string sig = a.Sign(auth, cd);
  auto n = VerifyAssertion(kRp, kChallenge, a.Spki(), {cd, auth, sig});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 7u);
}

TEST(WebAuthnAssertionTest, RefusesForgedTamperedAndMisdirectedAssertions) {
  Authenticator a, other;
  const std::string auth = Authenticator::AuthData("localhost", 0x01, 7);
  const std::string cd = Authenticator::ClientData("webauthn.get", kChallenge, kRp.origin);
  const std::string sig = a.Sign(auth, cd);
  auto code = [&](const RelyingParty& rp, const std::string& challenge, const std::string& key, const std::string& c,
                  const std::string& au, const std::string& s) {
    return VerifyAssertion(rp, challenge, key, {c, au, s}).status().code();
  };
  // Another decision's intent as the challenge.
  EXPECT_EQ(code(kRp, std::string(32, 'y'), a.Spki(), cd, auth, sig), absl::StatusCode::kUnauthenticated);
  // Signed by a key that is not the enrolled one.
  EXPECT_EQ(code(kRp, kChallenge, other.Spki(), cd, auth, sig), absl::StatusCode::kUnauthenticated);
  // A counter rewritten after signing.
  std::string tampered = auth;
  tampered[36] = char(99);
  EXPECT_EQ(code(kRp, kChallenge, a.Spki(), cd, tampered, sig), absl::StatusCode::kUnauthenticated);
  // A signature over the same data by someone else.
  EXPECT_EQ(code(kRp, kChallenge, a.Spki(), cd, auth, other.Sign(auth, cd)), absl::StatusCode::kUnauthenticated);
  // Cross-origin iframe, wrong origin, wrong rp id.
  const std::string xo = Authenticator::ClientData("webauthn.get", kChallenge, kRp.origin, true);
  EXPECT_EQ(code(kRp, kChallenge, a.Spki(), xo, auth, a.Sign(auth, xo)), absl::StatusCode::kUnauthenticated);
  const std::string evil = Authenticator::ClientData("webauthn.get", kChallenge, "https://localhost:9999");
  EXPECT_EQ(code(kRp, kChallenge, a.Spki(), evil, auth, a.Sign(auth, evil)), absl::StatusCode::kUnauthenticated);
  const std::string foreign = Authenticator::AuthData("example.com", 0x01, 7);
  EXPECT_EQ(code(kRp, kChallenge, a.Spki(), cd, foreign, a.Sign(foreign, cd)), absl::StatusCode::kUnauthenticated);
  // User verification required but only presence given.
  RelyingParty uv = kRp;
  uv.require_user_verification = true;
  EXPECT_EQ(code(uv, kChallenge, a.Spki(), cd, auth, sig), absl::StatusCode::kUnauthenticated);
  // Truncated authenticator data, a key that is not P-256.
  EXPECT_EQ(code(kRp, kChallenge, a.Spki(), cd, auth.substr(0, 20), sig), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(kRp, kChallenge, "not a key", cd, auth, sig), absl::StatusCode::kInvalidArgument);
}

TEST(WebAuthnCounterTest, ACounterThatDoesNotGrowMeansAClone) {
  EXPECT_TRUE(CheckCounter(0, 0).ok());  // the authenticator keeps no counter
  EXPECT_TRUE(CheckCounter(0, 1).ok());
  EXPECT_TRUE(CheckCounter(5, 6).ok());
  EXPECT_EQ(CheckCounter(5, 5).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CheckCounter(5, 3).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CheckCounter(5, 0).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace taogate::governance::webauthn

namespace taogate::governance {
namespace {

// The console's origin is its WebAuthn origin: what it may be is checked at
// start, with a message naming the setting.
TEST(ConsoleConfigTest, RefusesOriginsWebAuthnCannotUseAndMissingCertificates) {
  auto create = [](const std::string& origin, const std::string& cert = "/nonexistent.crt") {
    return Console::Create({.listen = "127.0.0.1:8443", .origin = origin, .tls_cert = cert, .tls_key = cert});
  };
  for (const char* bad : {"", "http://localhost:8443", "https://127.0.0.1:8443", "https://[::1]:8443",
                          "https://localhost:8443/console", "https://user@localhost", "https://localhost:"}) {
    auto c = create(bad);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(std::string(c.status().message()).find("console_origin"), std::string::npos) << c.status();
  }
  auto c = create("https://console.example.com:8443");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(c.status().message()).find("/nonexistent.crt"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace taogate::governance
