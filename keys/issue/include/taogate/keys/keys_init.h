// `taogatectl keys init`: create or adopt the governor's root key, a
// non-exportable ECC P-256 signing key persisted in the TPM (see
// keys_format.h section 3 for the exact template).
//
// Thread safety: each call opens and closes its own TPM connection; calls
// are independent, but two processes initialising the same TPM at once race
// (the TPM itself makes the second EvictControl fail, which is reported).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/keys/keys_format.h"
#include "taogate/keys/public_key.h"

namespace taogate::keys {

struct KeysInitOptions {
  // TCTI configuration: "device:/dev/tpmrm0" in production,
  // "swtpm:path=/path/to/sock" for swtpm.
  std::string tcti;
  uint32_t persistent_handle = kDefaultPersistentHandle;
  // Replace whatever object is at the handle with a freshly generated key
  // (root rotation). Without it, an existing object that is not a taogate
  // root key, or whose id differs from expected_key_id, is refused.
  bool force = false;
  // If set, an existing key is adopted only if it has this id.
  std::optional<KeyId> expected_key_id;
  // Owner hierarchy authorization, if the platform set one (needed to create
  // the SRK and to persist/evict). At most 64 bytes; wiped after use.
  std::string owner_auth;
};

struct KeysInitResult {
  PublicKey public_key;  // key id = public_key.key_id()
  bool created = false;  // false: an existing key was adopted unchanged
  uint32_t persistent_handle = 0;
};

// Idempotent: a second call adopts the key the first one made and returns
// the same public key. Errors: Unavailable (TPM missing, unreachable or
// busy; decoded TSS2 message), FailedPrecondition (a different object at the
// handle and no `force`), InvalidArgument (bad options).
absl::StatusOr<KeysInitResult> KeysInit(const KeysInitOptions& options);

// Reads the root key at `handle` without changing anything. NotFound if the
// handle is empty, FailedPrecondition if the object is not a taogate root key.
absl::StatusOr<PublicKey> ReadRootKey(const std::string& tcti,
                                      uint32_t handle = kDefaultPersistentHandle);

}  // namespace taogate::keys
