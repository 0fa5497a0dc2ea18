#include "taogate/keys/keys_init.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>

#include "src/esys.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::keys {
namespace {

using internal::EsysHandle;

std::string HandleHex(uint32_t h) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", h);
  return buf;
}

// The taogate root key at `handle`, or FailedPrecondition saying why the
// object there is not one.
absl::StatusOr<PublicKey> ReadRootKeyAt(ESYS_CONTEXT* ctx, uint32_t handle) {
  TG_ASSIGN_OR_RETURN(EsysHandle obj, internal::OpenPersistent(ctx, handle));
  TG_ASSIGN_OR_RETURN(auto pub, internal::ReadPublic(ctx, obj.get()));
  TG_RETURN_IF_ERROR(internal::CheckRootKeyPublic(pub->publicArea));
  return internal::PublicKeyOf(pub->publicArea);
}

absl::Status Evict(ESYS_CONTEXT* ctx, uint32_t handle) {
  TG_ASSIGN_OR_RETURN(EsysHandle obj, internal::OpenPersistent(ctx, handle));
  ESYS_TR out = ESYS_TR_NONE;
  TSS2_RC rc = Esys_EvictControl(ctx, ESYS_TR_RH_OWNER, obj.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                 ESYS_TR_NONE, handle, &out);
  if (rc != TSS2_RC_SUCCESS) return internal::TpmError(rc, StrCat("evict ", HandleHex(handle)));
  obj.Release();  // ESYS dropped the object together with the persistent handle.
  return absl::OkStatus();
}

absl::StatusOr<PublicKey> CreatePersistentRootKey(ESYS_CONTEXT* ctx, uint32_t handle) {
  TG_ASSIGN_OR_RETURN(EsysHandle srk, internal::CreateSrk(ctx));
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC tmpl = internal::RootKeyTemplate();
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION pcrs{};
  TPM2B_PRIVATE* priv_raw = nullptr;
  TPM2B_PUBLIC* pub_raw = nullptr;
  TSS2_RC rc = Esys_Create(ctx, srk.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                           &tmpl, &outside, &pcrs, &priv_raw, &pub_raw, nullptr, nullptr, nullptr);
  internal::EsysPtr<TPM2B_PRIVATE> priv(priv_raw);
  internal::EsysPtr<TPM2B_PUBLIC> pub(pub_raw);
  if (rc != TSS2_RC_SUCCESS) return internal::TpmError(rc, "Create(root signing key)");
  ESYS_TR loaded = ESYS_TR_NONE;
  rc = Esys_Load(ctx, srk.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv.get(), pub.get(),
                 &loaded);
  if (rc != TSS2_RC_SUCCESS) return internal::TpmError(rc, "Load(root signing key)");
  EsysHandle key(ctx, loaded, EsysHandle::Kind::kTransient);
  ESYS_TR persistent = ESYS_TR_NONE;
  rc = Esys_EvictControl(ctx, ESYS_TR_RH_OWNER, key.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, handle, &persistent);
  if (rc != TSS2_RC_SUCCESS)
    return internal::TpmError(rc, StrCat("EvictControl(persist root key at ", HandleHex(handle), ")"));
  EsysHandle persisted(ctx, persistent, EsysHandle::Kind::kPersistent);
  TG_RETURN_IF_ERROR(internal::CheckRootKeyPublic(pub->publicArea));
  // `key` and `srk` (transient) are flushed on return, on every path.
  return internal::PublicKeyOf(pub->publicArea);
}

}  // namespace

absl::StatusOr<KeysInitResult> KeysInit(const KeysInitOptions& options) {
  const uint32_t handle = options.persistent_handle;
  if (handle < kFirstPersistentHandle || handle > kLastPersistentHandle)
    return absl::InvalidArgumentError(
        StrCat("persistent handle ", HandleHex(handle), " is outside the owner range 0x81000000-0x817fffff"));
  internal::ScopedSigpipeBlock no_sigpipe;
  TG_ASSIGN_OR_RETURN(internal::EsysContext ctx, internal::EsysContext::Open(options.tcti));
  if (!options.owner_auth.empty()) {
    TPM2B_AUTH auth{};
    if (options.owner_auth.size() > sizeof(auth.buffer))
      return absl::InvalidArgumentError("owner authorization is longer than 64 bytes");
    auth.size = static_cast<UINT16>(options.owner_auth.size());
    std::copy(options.owner_auth.begin(), options.owner_auth.end(), auth.buffer);
    TSS2_RC rc = Esys_TR_SetAuth(ctx.get(), ESYS_TR_RH_OWNER, &auth);
    OPENSSL_cleanse(&auth, sizeof(auth));
    if (rc != TSS2_RC_SUCCESS) return internal::TpmError(rc, "set owner authorization");
  }
  TG_ASSIGN_OR_RETURN(bool exists, internal::PersistentExists(ctx.get(), handle));
  if (exists && !options.force) {
    absl::StatusOr<PublicKey> existing = ReadRootKeyAt(ctx.get(), handle);
    if (!existing.ok()) {
      if (existing.status().code() != absl::StatusCode::kFailedPrecondition) return existing.status();
      return absl::FailedPreconditionError(
          StrCat(existing.status().message(), " (handle ", HandleHex(handle),
                 "); refusing to overwrite it without --force"));
    }
    if (options.expected_key_id && *options.expected_key_id != existing->key_id())
      return absl::FailedPreconditionError(
          StrCat("the key at ", HandleHex(handle), " has id ", ToHex(existing->key_id()),
                 ", not the expected ", ToHex(*options.expected_key_id),
                 "; refusing to replace it without --force"));
    return KeysInitResult{*std::move(existing), false, handle};
  }
  if (exists) {
    log::Warn("keys init --force: evicting the existing object",
              {{"handle", HandleHex(handle)}, {"tcti", options.tcti}});
    TG_RETURN_IF_ERROR(Evict(ctx.get(), handle));
  }
  TG_ASSIGN_OR_RETURN(PublicKey key, CreatePersistentRootKey(ctx.get(), handle));
  log::Info("created TPM root key",
            {{"handle", HandleHex(handle)}, {"key_id", ToHex(key.key_id())}});
  return KeysInitResult{std::move(key), true, handle};
}

absl::StatusOr<PublicKey> ReadRootKey(const std::string& tcti, uint32_t handle) {
  internal::ScopedSigpipeBlock no_sigpipe;
  TG_ASSIGN_OR_RETURN(internal::EsysContext ctx, internal::EsysContext::Open(tcti));
  TG_ASSIGN_OR_RETURN(bool exists, internal::PersistentExists(ctx.get(), handle));
  if (!exists)
    return absl::NotFoundError(StrCat("no key at TPM handle ", HandleHex(handle),
                                      " (run `taogatectl keys init`)"));
  return ReadRootKeyAt(ctx.get(), handle);
}

}  // namespace taogate::keys
