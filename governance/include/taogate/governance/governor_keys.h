// The governor's keys: the root (TPM via ESYS, or software in explicit
// development mode), the delegated TAO issuing keys (rotated on a schedule)
// and the delegated checkpoint key the ledger signs its checkpoints with.
//
// Ownership: GovernorKeys owns all of them; members are destroyed in reverse
// order (checkpoint signer, key managers, then the root), so no manager
// outlives the root it borrows. Thread safety: see keys/issuing_key.h; the
// CheckpointSigner is called by the ledger one call at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "taogate/governance/tpm_health.h"
#include "taogate/keys/issuing_key.h"
#include "taogate/keys/root_signer.h"
#include "taogate/ledger/signer.h"

namespace taogate::governance {

struct KeyConfig {
  std::string tcti;               // "swtpm:path=...", "device:/dev/tpmrm0"; empty = software
  bool software_keys = false;     // explicit development mode (mutually exclusive with tcti)
  std::string software_root_key;  // PEM path for the software root (created if missing)
  bool tpm_create_root = false;   // run keys::KeysInit first (idempotent)
  uint32_t persistent_handle = 0x81000010;
  std::string instance = "governor";
  int64_t issuing_lifetime_ms = 4 * 3600 * 1000;
  int64_t issuing_rotate_ms = 3600 * 1000;
  // TPM health (tpm_health.h): probe period, and how long TAOs are still
  // issued after the TPM became unreachable (0 = stop at once).
  int64_t tpm_probe_interval_ms = 5000;
  int64_t tpm_grace_ms = 0;
};

// ledger::Signer over a delegated Ed25519 key (purpose "ledger-checkpoint")
// certified by the root at start. It is not rotated while the process runs
// (the C2SP key hash must stay stable between KeyHash and Sign); a restart
// makes a new one, which the ledger records as KEY_ROTATED with its
// certificate (KeyRecordFields) before the key signs any checkpoint.
class CheckpointSigner final : public ledger::Signer {
 public:
  CheckpointSigner(std::string name, std::shared_ptr<const keys::IssuingKey> key);
  std::string KeyName() const override { return name_; }
  uint32_t KeyHash() const override { return key_hash_; }
  absl::StatusOr<std::string> Sign(std::string_view msg) override;
  std::string VerifierKey() const override;
  ledger::Fields KeyRecordFields() const override;
  const keys::IssuingKey& key() const { return *key_; }

 private:
  std::string name_;
  std::shared_ptr<const keys::IssuingKey> key_;
  uint32_t key_hash_;
};

struct GovernorKeys {
  // Called (on the rotation thread) after each scheduled issuing-key
  // rotation, e.g. to append KEY_ROTATED; set and cleared by the Governor.
  void SetRotateHook(std::function<void(const keys::IssuingKey&)> hook);
  void OnRotate(const keys::IssuingKey& k);

  std::unique_ptr<keys::RootSigner> root;
  std::unique_ptr<keys::IssuingKeyManager> issuing;
  std::unique_ptr<keys::IssuingKeyManager> checkpoint_manager;
  std::unique_ptr<CheckpointSigner> checkpoint;
  std::unique_ptr<TpmHealth> health;  // probes `root`; gates issuance
  ~GovernorKeys();

  // The key to sign a TAO with now: Unavailable while the TPM root has been
  // unreachable beyond the grace (TpmHealth), else issuing->Current().
  absl::StatusOr<std::shared_ptr<const keys::IssuingKey>> CurrentIssuingKey() const;

 private:
  std::mutex hook_mu_;
  std::function<void(const keys::IssuingKey&)> hook_;
};

// InvalidArgument for contradictory options (neither or both of tcti and
// software_keys); Unavailable/NotFound from the TPM. Never falls back from
// the TPM to software.
absl::StatusOr<std::unique_ptr<GovernorKeys>> OpenGovernorKeys(const KeyConfig& config);

}  // namespace taogate::governance
