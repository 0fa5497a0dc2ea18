#include "taogate/governance/governor_keys.h"

#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/keys/keys_init.h"
#include "taogate/ledger/base64.h"

namespace taogate::governance {

CheckpointSigner::CheckpointSigner(std::string name, std::shared_ptr<const keys::IssuingKey> key)
    : name_(std::move(name)), key_(std::move(key)) {
  key_hash_ = ledger::Ed25519KeyHash(name_, key_->public_key());
}

absl::StatusOr<std::string> CheckpointSigner::Sign(std::string_view msg) {
  TG_ASSIGN_OR_RETURN(auto sig, key_->Sign(crypto::AsBytes(msg)));
  return std::string(reinterpret_cast<const char*>(sig.data()), sig.size());
}

std::string CheckpointSigner::VerifierKey() const {
  return ledger::Ed25519VerifierKey(name_, key_->public_key());
}

// The ledger writes this as KEY_ROTATED at open, before the key's first
// checkpoint; with the certificate itself an auditor chains every
// checkpoint to the trust bundle (taogatectl ledger verify --trust-bundle).
ledger::Fields CheckpointSigner::KeyRecordFields() const {
  return {{"key_id", ToHex(key_->key_id())},
          {"cert_sha256", ToHex(crypto::Sha256(key_->certificate()))},
          {"scope", key_->certificate_body().purpose()},
          {"certificate", ledger::Base64Encode(key_->certificate())}};
}

void GovernorKeys::SetRotateHook(std::function<void(const keys::IssuingKey&)> hook) {
  std::lock_guard l(hook_mu_);
  hook_ = std::move(hook);
}

void GovernorKeys::OnRotate(const keys::IssuingKey& k) {
  std::lock_guard l(hook_mu_);  // held while the hook runs: clearing it waits
  if (hook_) hook_(k);
}

GovernorKeys::~GovernorKeys() {
  health.reset();  // its thread uses root and issuing
  checkpoint.reset();
  if (checkpoint_manager) checkpoint_manager->Shutdown();
  if (issuing) issuing->Shutdown();
  checkpoint_manager.reset();
  issuing.reset();
  root.reset();
}

absl::StatusOr<std::shared_ptr<const keys::IssuingKey>> GovernorKeys::CurrentIssuingKey() const {
  if (health) TG_RETURN_IF_ERROR(health->IssuanceAllowed());
  return issuing->Current();
}

absl::StatusOr<std::unique_ptr<GovernorKeys>> OpenGovernorKeys(const KeyConfig& config) {
  if (config.tcti.empty() == !config.software_keys)
    return absl::InvalidArgumentError("choose exactly one of --tcti and --software-keys");
  auto keys = std::make_unique<GovernorKeys>();
  if (!config.tcti.empty()) {
    if (config.tpm_create_root) {
      keys::KeysInitOptions init;
      init.tcti = config.tcti;
      init.persistent_handle = config.persistent_handle;
      TG_RETURN_IF_ERROR(keys::KeysInit(init).status());
    }
    keys::TpmRootSignerOptions o;
    o.tcti = config.tcti;
    o.persistent_handle = config.persistent_handle;
    TG_ASSIGN_OR_RETURN(keys->root, keys::TpmRootSigner::Open(o));
  } else if (!config.software_root_key.empty()) {
    TG_ASSIGN_OR_RETURN(keys->root, keys::SoftwareRootSigner::LoadOrCreate(config.software_root_key));
  } else {
    TG_ASSIGN_OR_RETURN(keys->root, keys::SoftwareRootSigner::Generate());
  }
  keys::IssuingKeyOptions io;
  io.instance = config.instance;
  io.certificate_lifetime_ms = config.issuing_lifetime_ms;
  io.rotate_every_ms = config.issuing_rotate_ms;
  // Containers and CI often have a small RLIMIT_MEMLOCK; in software mode the
  // root key is in ordinary memory anyway, so locking buys nothing there.
  io.require_locked_memory = !config.software_keys;
  GovernorKeys* raw = keys.get();
  io.on_rotate = [raw](const keys::IssuingKey& k) { raw->OnRotate(k); };
  TG_ASSIGN_OR_RETURN(keys->issuing, keys::IssuingKeyManager::Create(keys->root.get(), io));
  keys->issuing->StartScheduler();
  if (config.tpm_probe_interval_ms <= 0 || config.tpm_grace_ms < 0)
    return absl::InvalidArgumentError("tpm_probe_interval_ms must be > 0 and tpm_grace_s >= 0");
  keys->health = std::make_unique<TpmHealth>(
      keys->root.get(), keys->issuing.get(),
      TpmHealthOptions{config.tpm_probe_interval_ms, config.tpm_grace_ms});
  keys->health->Start();

  keys::IssuingKeyOptions co = io;
  co.on_rotate = nullptr;
  co.purpose = std::string(keys::kPurposeLedgerCheckpoint);
  co.certificate_lifetime_ms = 30LL * 24 * 3600 * 1000;
  co.rotate_every_ms = 24LL * 3600 * 1000;
  TG_ASSIGN_OR_RETURN(keys->checkpoint_manager,
                      keys::IssuingKeyManager::Create(keys->root.get(), co));
  TG_ASSIGN_OR_RETURN(auto ck, keys->checkpoint_manager->Current());
  keys->checkpoint =
      std::make_unique<CheckpointSigner>(StrCat("taogate-governor-", config.instance), ck);
  return keys;
}

}  // namespace taogate::governance
