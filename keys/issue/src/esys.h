// Private ESYS helpers shared by KeysInit and TpmRootSigner: one RAII owner
// per TCTI/ESYS context and per object handle, TPM return codes turned into
// Status in exactly one place, the object templates of keys_format.h.
//
// Not thread-safe: an EsysContext and its handles belong to one thread.
#pragma once

#include <tss2/tss2_esys.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/keys/public_key.h"

namespace taogate::keys::internal {

// "what: TPM error 0x000a000a: tcti:IO failure". Unavailable for a TPM that
// is missing, unreachable or busy (retry later); FailedPrecondition or
// Internal otherwise.
absl::Status TpmError(TSS2_RC rc, std::string_view what);

template <typename T>
struct EsysFree {
  void operator()(T* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

// Owns the TCTI (loaded by name, e.g. "swtpm:path=/run/swtpm.sock" or
// "device:/dev/tpmrm0") and the ESYS context on top of it.
class EsysContext {
 public:
  static absl::StatusOr<EsysContext> Open(const std::string& tcti);
  EsysContext(EsysContext&& o) noexcept;
  EsysContext& operator=(EsysContext&& o) noexcept;
  ~EsysContext();
  ESYS_CONTEXT* get() const { return esys_; }
  const std::string& tcti() const { return tcti_name_; }

 private:
  EsysContext() = default;
  void Reset();
  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
  std::string tcti_name_;
};

// An ESYS_TR owned by this object. A transient object is flushed from the
// TPM on destruction (swtpm has 3 slots); a persistent one is only released
// from the ESYS context (Esys_TR_Close), never evicted.
class EsysHandle {
 public:
  enum class Kind { kTransient, kPersistent };
  EsysHandle() = default;
  EsysHandle(ESYS_CONTEXT* ctx, ESYS_TR tr, Kind kind) : ctx_(ctx), tr_(tr), kind_(kind) {}
  EsysHandle(EsysHandle&& o) noexcept;
  EsysHandle& operator=(EsysHandle&& o) noexcept;
  ~EsysHandle() { Reset(); }
  ESYS_TR get() const { return tr_; }
  // Forget the handle without flushing (after EvictControl consumed it etc.).
  ESYS_TR Release();
  void Reset();

 private:
  ESYS_CONTEXT* ctx_ = nullptr;
  ESYS_TR tr_ = ESYS_TR_NONE;
  Kind kind_ = Kind::kTransient;
};

// Blocks SIGPIPE for the calling thread while alive, so that a TPM socket
// closed under us (swtpm killed) becomes an error, not a dead process.
// Discards a SIGPIPE raised meanwhile before restoring the old mask.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  bool was_blocked_ = false;
};

TPM2B_PUBLIC SrkTemplate();
TPM2B_PUBLIC RootKeyTemplate();

// OkStatus iff `pub` is a key taogate would have created: ECC P-256 ECDSA
// signing key, fixedTPM|fixedParent|sensitiveDataOrigin, not restricted,
// not decrypt. FailedPrecondition with the first mismatch otherwise.
absl::Status CheckRootKeyPublic(const TPMT_PUBLIC& pub);
absl::StatusOr<PublicKey> PublicKeyOf(const TPMT_PUBLIC& pub);

// True iff a persistent object exists at `handle`.
absl::StatusOr<bool> PersistentExists(ESYS_CONTEXT* ctx, uint32_t handle);
absl::StatusOr<EsysHandle> OpenPersistent(ESYS_CONTEXT* ctx, uint32_t handle);
absl::StatusOr<EsysPtr<TPM2B_PUBLIC>> ReadPublic(ESYS_CONTEXT* ctx, ESYS_TR object);

// The owner-hierarchy SRK as a transient object (flushed by the handle).
absl::StatusOr<EsysHandle> CreateSrk(ESYS_CONTEXT* ctx);

// DER ECDSA-Sig-Value from a TPM ECDSA signature.
absl::StatusOr<std::string> EcdsaSignatureToDer(const TPMT_SIGNATURE& sig);

// Signs a SHA-256 digest with an ECDSA P-256 key and returns the DER
// signature. Uses the async ESYS calls so that a TPM that stops answering
// fails after `timeout_ms` (DeadlineExceeded) instead of hanging; the
// context must be discarded after any error.
absl::StatusOr<std::string> SignDigest(ESYS_CONTEXT* ctx, ESYS_TR key,
                                       const std::array<uint8_t, 32>& digest, int timeout_ms);

}  // namespace taogate::keys::internal
