// The byte-level formats of taogate::keys: what the root key signs, how keys
// are named, the TPM objects it creates, and the trust bundle file.
//
// 1. Issuer certificate (delegation from the root to an issuing key)
//    IssuerCertificate.body = serialized IssuerCertificateBody (api/tao.proto),
//    carried exactly as signed. The root signs the message
//      offset 0   23 bytes  "taogate.issuer-cert.v1\0"   (kIssuerCertDomain)
//      offset 23  N bytes   IssuerCertificate.body
//    IssuerCertificate.signature is
//      TPM root (ECDSA P-256): DER ECDSA-Sig-Value SEQUENCE { INTEGER r,
//        INTEGER s } (70-72 bytes) over SHA-256(message). The TPM signs the
//        32-byte digest with scheme TPM2_ALG_ECDSA / TPM2_ALG_SHA256.
//      software root (Ed25519, development only): 64-byte pure Ed25519
//        signature over the message itself; the body then has
//        software_mode = true.
//
// 2. Key ids (32 bytes each)
//    root key id    = SHA-256(root public key as DER SubjectPublicKeyInfo,
//                     RFC 5280): 91 DER bytes for P-256 (uncompressed point),
//                     44 for Ed25519.
//    issuing key id = SHA-256(raw 32-byte Ed25519 public key)
//                     (= tao::KeyIdOf, = TaoBody.issuer_key_id).
//
// 3. TPM objects (created by KeysInit)
//    parent: the owner-hierarchy storage root key, re-derived on demand with
//      the TCG "ECC P-256 SRK" template (restricted|decrypt|fixedTPM|
//      fixedParent|sensitiveDataOrigin|userWithAuth|noDA, AES-128-CFB, empty
//      unique), flushed after use; it is never made persistent by taogate.
//    root key: TPM2_ALG_ECC, nameAlg SHA-256, curve NIST P-256, scheme
//      ECDSA/SHA-256, attributes sign|fixedTPM|fixedParent|
//      sensitiveDataOrigin|userWithAuth|noDA, NOT restricted, NOT decrypt,
//      empty authPolicy, empty authValue. fixedTPM + fixedParent make it
//      non-duplicable: the private part never leaves the TPM in any form.
//      Made persistent at kDefaultPersistentHandle (configurable, owner
//      range 0x81000000-0x817FFFFF).
//
// 4. Trust bundle (JSON, UTF-8; read by TrustBundle::Load)
//    {
//      "version": 1,
//      "roots": [
//        { "name": "governor-2026a",            // free text, for messages
//          "public_key_pem": "-----BEGIN PUBLIC KEY-----\n...",  // SPKI PEM
//          "not_before_ms": 1790000000000,      // optional, default 0
//          "not_after_ms": 1800000000000,       // optional, default: no end
//          "software": false }                  // optional, default false
//      ]
//    }
//    A certificate is accepted under a root only if the certificate's
//    not_before_ms lies in [root.not_before_ms, root.not_after_ms]: a retired
//    root keeps vouching for certificates it issued while active, until they
//    expire, which gives an overlap window for root rotation. Unknown keys are
//    refused (fail closed on typos). At most kMaxRoots roots.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace taogate::keys {

inline constexpr std::string_view kIssuerCertDomain{"taogate.issuer-cert.v1\0", 23};
inline constexpr uint32_t kIssuerCertVersion = 1;
inline constexpr uint32_t kDefaultPersistentHandle = 0x81000010;
inline constexpr uint32_t kFirstPersistentHandle = 0x81000000;
inline constexpr uint32_t kLastPersistentHandle = 0x817FFFFF;
inline constexpr std::string_view kPurposeTaoIssuance = "tao-issuance";
inline constexpr std::string_view kPurposeLedgerCheckpoint = "ledger-checkpoint";
inline constexpr int kMaxRoots = 64;

using KeyId = std::array<uint8_t, 32>;

}  // namespace taogate::keys
