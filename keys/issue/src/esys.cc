#include "src/esys.h"

#include <signal.h>
#include <time.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <chrono>
#include <cstdio>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "taogate/common/strings.h"

namespace taogate::keys::internal {

absl::Status TpmError(TSS2_RC rc, std::string_view what) {
  char code[16];
  std::snprintf(code, sizeof(code), "0x%08x", rc);
  std::string msg = StrCat(what, ": TPM error ", code, ": ", Tss2_RC_Decode(rc));
  const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
  const TSS2_RC base = rc & 0xffff;
  if (layer == TSS2_TCTI_RC_LAYER) return absl::UnavailableError(StrCat(msg, " (TPM unreachable)"));
  if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER &&
      (base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_TRY_AGAIN ||
       base == TSS2_BASE_RC_NO_CONNECTION || base == TSS2_BASE_RC_MALFORMED_RESPONSE))
    return absl::UnavailableError(StrCat(msg, " (TPM unreachable)"));
  if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER) {
    switch (base) {
      case TPM2_RC_RETRY: case TPM2_RC_YIELDED: case TPM2_RC_TESTING: case TPM2_RC_NV_RATE:
      case TPM2_RC_LOCKOUT: case TPM2_RC_MEMORY: case TPM2_RC_OBJECT_MEMORY:
      case TPM2_RC_SESSION_MEMORY: case TPM2_RC_CANCELED: case TPM2_RC_NV_UNAVAILABLE:
        return absl::UnavailableError(StrCat(msg, " (TPM busy)"));
      default:
        break;
    }
    // Format-1 codes carry a handle/session/parameter index in bits 6-11.
    const TSS2_RC fmt1 = base & (TPM2_RC_FMT1 | 0x3f);
    if ((base & TPM2_RC_FMT1) && (fmt1 == TPM2_RC_AUTH_FAIL || fmt1 == TPM2_RC_BAD_AUTH))
      return absl::PermissionDeniedError(
          StrCat(msg, " (wrong or missing authorization, e.g. the owner hierarchy's)"));
    switch (base) {
      default:
        return absl::FailedPreconditionError(msg);
    }
  }
  return absl::InternalError(msg);
}

absl::StatusOr<EsysContext> EsysContext::Open(const std::string& tcti) {
  if (tcti.empty()) return absl::InvalidArgumentError("TCTI is empty (e.g. device:/dev/tpmrm0)");
  EsysContext c;
  c.tcti_name_ = tcti;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &c.tcti_);
  if (rc != TSS2_RC_SUCCESS) {
    c.tcti_ = nullptr;
    return absl::UnavailableError(StrCat("cannot open TPM via TCTI \"", tcti, "\": ",
                                         Tss2_RC_Decode(rc), " (TPM missing or unreachable)"));
  }
  rc = Esys_Initialize(&c.esys_, c.tcti_, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    c.esys_ = nullptr;
    return TpmError(rc, StrCat("Esys_Initialize over \"", tcti, "\""));
  }
  return c;
}

EsysContext::EsysContext(EsysContext&& o) noexcept
    : tcti_(std::exchange(o.tcti_, nullptr)),
      esys_(std::exchange(o.esys_, nullptr)),
      tcti_name_(std::move(o.tcti_name_)) {}
EsysContext& EsysContext::operator=(EsysContext&& o) noexcept {
  if (this != &o) {
    Reset();
    tcti_ = std::exchange(o.tcti_, nullptr);
    esys_ = std::exchange(o.esys_, nullptr);
    tcti_name_ = std::move(o.tcti_name_);
  }
  return *this;
}
EsysContext::~EsysContext() { Reset(); }
void EsysContext::Reset() {
  // ESYS first: it still references the TCTI.
  if (esys_ != nullptr) Esys_Finalize(&esys_);
  if (tcti_ != nullptr) Tss2_TctiLdr_Finalize(&tcti_);
  esys_ = nullptr;
  tcti_ = nullptr;
}

EsysHandle::EsysHandle(EsysHandle&& o) noexcept
    : ctx_(o.ctx_), tr_(std::exchange(o.tr_, ESYS_TR_NONE)), kind_(o.kind_) {}
EsysHandle& EsysHandle::operator=(EsysHandle&& o) noexcept {
  if (this != &o) {
    Reset();
    ctx_ = o.ctx_;
    tr_ = std::exchange(o.tr_, ESYS_TR_NONE);
    kind_ = o.kind_;
  }
  return *this;
}
ESYS_TR EsysHandle::Release() { return std::exchange(tr_, ESYS_TR_NONE); }
void EsysHandle::Reset() {
  if (tr_ == ESYS_TR_NONE || ctx_ == nullptr) return;
  // Best effort: if the TPM is gone the slot is gone with it.
  if (kind_ == Kind::kTransient) {
    Esys_FlushContext(ctx_, tr_);
  } else {
    Esys_TR_Close(ctx_, &tr_);
  }
  tr_ = ESYS_TR_NONE;
}

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  was_blocked_ = sigismember(&old, SIGPIPE) == 1;
}
ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  if (was_blocked_) return;
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE) == 1) {
    struct timespec zero = {0, 0};
    sigtimedwait(&set, nullptr, &zero);
  }
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

TPM2B_PUBLIC SrkTemplate() {
  TPM2B_PUBLIC t{};
  t.publicArea.type = TPM2_ALG_ECC;
  t.publicArea.nameAlg = TPM2_ALG_SHA256;
  t.publicArea.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                                  TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                  TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                  TPMA_OBJECT_NODA;
  auto& ecc = t.publicArea.parameters.eccDetail;
  ecc.symmetric.algorithm = TPM2_ALG_AES;
  ecc.symmetric.keyBits.aes = 128;
  ecc.symmetric.mode.aes = TPM2_ALG_CFB;
  ecc.scheme.scheme = TPM2_ALG_NULL;
  ecc.curveID = TPM2_ECC_NIST_P256;
  ecc.kdf.scheme = TPM2_ALG_NULL;
  return t;
}

TPM2B_PUBLIC RootKeyTemplate() {
  TPM2B_PUBLIC t{};
  t.publicArea.type = TPM2_ALG_ECC;
  t.publicArea.nameAlg = TPM2_ALG_SHA256;
  t.publicArea.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                                  TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                  TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA;
  auto& ecc = t.publicArea.parameters.eccDetail;
  ecc.symmetric.algorithm = TPM2_ALG_NULL;
  ecc.scheme.scheme = TPM2_ALG_ECDSA;
  ecc.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  ecc.curveID = TPM2_ECC_NIST_P256;
  ecc.kdf.scheme = TPM2_ALG_NULL;
  return t;
}

absl::Status CheckRootKeyPublic(const TPMT_PUBLIC& pub) {
  auto bad = [](std::string_view why) {
    return absl::FailedPreconditionError(StrCat("existing TPM object is not a taogate root key: ", why));
  };
  if (pub.type != TPM2_ALG_ECC) return bad("not an ECC key");
  if (pub.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256) return bad("curve is not P-256");
  const TPMA_OBJECT a = pub.objectAttributes;
  if (!(a & TPMA_OBJECT_SIGN_ENCRYPT)) return bad("not a signing key");
  if (a & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)) return bad("restricted or decrypt key");
  if (!(a & TPMA_OBJECT_FIXEDTPM) || !(a & TPMA_OBJECT_FIXEDPARENT))
    return bad("key is duplicable (fixedTPM/fixedParent clear)");
  if (!(a & TPMA_OBJECT_SENSITIVEDATAORIGIN)) return bad("private key was not generated by the TPM");
  const auto& s = pub.parameters.eccDetail.scheme;
  if (s.scheme != TPM2_ALG_ECDSA || s.details.ecdsa.hashAlg != TPM2_ALG_SHA256)
    return bad("scheme is not ECDSA-SHA256");
  return absl::OkStatus();
}

absl::StatusOr<PublicKey> PublicKeyOf(const TPMT_PUBLIC& pub) {
  const auto& p = pub.unique.ecc;
  return PublicKey::FromP256Point(
      std::string_view(reinterpret_cast<const char*>(p.x.buffer), p.x.size),
      std::string_view(reinterpret_cast<const char*>(p.y.buffer), p.y.size));
}

absl::StatusOr<bool> PersistentExists(ESYS_CONTEXT* ctx, uint32_t handle) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* raw = nullptr;
  TSS2_RC rc = Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                                  handle, 1, &more, &raw);
  EsysPtr<TPMS_CAPABILITY_DATA> data(raw);
  if (rc != TSS2_RC_SUCCESS) return TpmError(rc, "GetCapability(handles)");
  const auto& h = data->data.handles;
  return h.count >= 1 && h.handle[0] == handle;
}

absl::StatusOr<EsysHandle> OpenPersistent(ESYS_CONTEXT* ctx, uint32_t handle) {
  ESYS_TR tr = ESYS_TR_NONE;
  TSS2_RC rc = Esys_TR_FromTPMPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
  if (rc != TSS2_RC_SUCCESS) {
    char h[16];
    std::snprintf(h, sizeof(h), "0x%08x", handle);
    return TpmError(rc, StrCat("open persistent handle ", h));
  }
  return EsysHandle(ctx, tr, EsysHandle::Kind::kPersistent);
}

absl::StatusOr<EsysPtr<TPM2B_PUBLIC>> ReadPublic(ESYS_CONTEXT* ctx, ESYS_TR object) {
  TPM2B_PUBLIC* pub = nullptr;
  TPM2B_NAME* name = nullptr;
  TPM2B_NAME* qname = nullptr;
  TSS2_RC rc = Esys_ReadPublic(ctx, object, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name,
                               &qname);
  EsysPtr<TPM2B_PUBLIC> out(pub);
  Esys_Free(name);
  Esys_Free(qname);
  if (rc != TSS2_RC_SUCCESS) return TpmError(rc, "ReadPublic");
  return out;
}

absl::StatusOr<EsysHandle> CreateSrk(ESYS_CONTEXT* ctx) {
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC tmpl = SrkTemplate();
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION pcrs{};
  ESYS_TR srk = ESYS_TR_NONE;
  TSS2_RC rc = Esys_CreatePrimary(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, &sensitive, &tmpl, &outside, &pcrs, &srk, nullptr,
                                  nullptr, nullptr, nullptr);
  if (rc != TSS2_RC_SUCCESS) return TpmError(rc, "CreatePrimary(storage root key)");
  return EsysHandle(ctx, srk, EsysHandle::Kind::kTransient);
}

absl::StatusOr<std::string> EcdsaSignatureToDer(const TPMT_SIGNATURE& sig) {
  if (sig.sigAlg != TPM2_ALG_ECDSA) return absl::InternalError("TPM returned a non-ECDSA signature");
  const auto& e = sig.signature.ecdsa;
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> s(ECDSA_SIG_new(), ECDSA_SIG_free);
  BIGNUM* r = BN_bin2bn(e.signatureR.buffer, e.signatureR.size, nullptr);
  BIGNUM* sv = BN_bin2bn(e.signatureS.buffer, e.signatureS.size, nullptr);
  if (!s || !r || !sv || ECDSA_SIG_set0(s.get(), r, sv) != 1) {
    BN_free(r);
    BN_free(sv);
    return absl::InternalError("cannot encode ECDSA signature");
  }
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(s.get(), &der);
  if (n <= 0) return absl::InternalError("cannot encode ECDSA signature");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<std::string> SignDigest(ESYS_CONTEXT* ctx, ESYS_TR key,
                                       const std::array<uint8_t, 32>& digest, int timeout_ms) {
  TPM2B_DIGEST d{};
  d.size = 32;
  std::copy(digest.begin(), digest.end(), d.buffer);
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_ECDSA;
  scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  TPMT_TK_HASHCHECK validation{};
  validation.tag = TPM2_ST_HASHCHECK;
  validation.hierarchy = TPM2_RH_NULL;
  TSS2_RC rc = Esys_Sign_Async(ctx, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, &scheme,
                               &validation);
  if (rc != TSS2_RC_SUCCESS) return TpmError(rc, "TPM2_Sign");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Esys_SetTimeout(ctx, 50);
  TPMT_SIGNATURE* raw = nullptr;
  for (;;) {
    rc = Esys_Sign_Finish(ctx, &raw);
    if ((rc & 0xffff) != TSS2_BASE_RC_TRY_AGAIN) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          StrCat("TPM2_Sign: TPM did not answer within ", timeout_ms, " ms (TPM busy or hung)"));
    }
  }
  EsysPtr<TPMT_SIGNATURE> sig(raw);
  if (rc != TSS2_RC_SUCCESS) return TpmError(rc, "TPM2_Sign");
  return EcdsaSignatureToDer(*sig);
}

}  // namespace taogate::keys::internal
