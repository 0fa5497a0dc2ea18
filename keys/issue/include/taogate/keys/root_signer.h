// The governor's root of authority: the key that signs issuer certificates
// (delegations). Two implementations:
//   TpmRootSigner       the production one: a non-exportable P-256 key in a
//                       TPM (created by KeysInit), used through ESYS;
//   SoftwareRootSigner  development only: an Ed25519 key in memory; every
//                       certificate it backs says software_mode = true and
//                       strict verifiers refuse it.
// Nothing ever falls back from the first to the second: a TPM error is
// returned to the caller (fail closed).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/common/crypto.h"
#include "taogate/keys/keys_format.h"
#include "taogate/keys/public_key.h"

namespace taogate::keys {

// Thread-safe: Sign may be called from any thread.
class RootSigner {
 public:
  virtual ~RootSigner() = default;
  virtual const PublicKey& public_key() const = 0;
  const KeyId& key_id() const { return public_key().key_id(); }  // SHA-256(SPKI DER)
  const std::string& public_key_der() const { return public_key().der(); }
  virtual bool software_mode() const = 0;
  // Signs `message` (the whole domain-separated message of keys_format.h;
  // hashing, if any, happens inside). Returns the signature bytes.
  virtual absl::StatusOr<std::string> Sign(std::string_view message) = 0;
};

struct TpmRootSignerOptions {
  std::string tcti;  // "device:/dev/tpmrm0", "swtpm:path=SOCK"
  uint32_t persistent_handle = kDefaultPersistentHandle;
  // Pin the key: refuse to use a key with another id (e.g. swapped TPM).
  std::optional<KeyId> expected_key_id;
  // A TPM that does not answer a sign within this time fails the call.
  int sign_timeout_ms = 5000;
};

// Owns ONE worker thread, which alone owns the ESYS context (ESYS is not
// thread-safe). Sign() queues a request to it and waits. After any TPM error
// the worker drops its context, and the next request reconnects, re-reads
// the key and checks it is still the same key (so a TPM that went away and
// came back recovers by itself). Every TPM signature is verified against the
// pinned public key before it is returned (a key swapped at the handle, or a
// faulty TPM, yields FailedPrecondition, never a bad signature).
// Destruction stops the worker and closes the context; pending requests fail
// with Cancelled.
class TpmRootSigner final : public RootSigner {
 public:
  // Connects and reads the key; Unavailable if the TPM is missing or busy,
  // NotFound if no key was initialised, FailedPrecondition if the key differs
  // from expected_key_id or is not a taogate root key.
  static absl::StatusOr<std::unique_ptr<TpmRootSigner>> Open(const TpmRootSignerOptions& options);
  ~TpmRootSigner() override;

  const PublicKey& public_key() const override;
  bool software_mode() const override { return false; }
  absl::StatusOr<std::string> Sign(std::string_view message) override;
  // Reconnects if needed and re-reads the key: OkStatus iff the TPM can sign.
  absl::Status CheckHealth();

 private:
  struct Worker;
  explicit TpmRootSigner(std::unique_ptr<Worker> worker);
  std::unique_ptr<Worker> worker_;
};

// Development mode only. Immutable after creation.
class SoftwareRootSigner final : public RootSigner {
 public:
  static absl::StatusOr<std::unique_ptr<SoftwareRootSigner>> Generate();
  static absl::StatusOr<std::unique_ptr<SoftwareRootSigner>> FromPem(std::string_view private_pem);
  // Reads the PKCS#8 PEM at `path`, or creates it (mode 0600) if missing.
  static absl::StatusOr<std::unique_ptr<SoftwareRootSigner>> LoadOrCreate(const std::string& path);

  const PublicKey& public_key() const override { return public_key_; }
  bool software_mode() const override { return true; }
  absl::StatusOr<std::string> Sign(std::string_view message) override;

 private:
  SoftwareRootSigner(crypto::Ed25519PrivateKey key, PublicKey pub)
      : key_(std::move(key)), public_key_(std::move(pub)) {}
  crypto::Ed25519PrivateKey key_;
  PublicKey public_key_;
};

}  // namespace taogate::keys
