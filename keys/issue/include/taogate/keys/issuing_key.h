// Short-lived in-memory Ed25519 issuing keys, each delegated by the root
// (TPM) key through an issuer certificate (keys_format.h section 1).
//
// Memory: issuing private keys are LockedEd25519Keys (locked_key.h), kept in
// OpenSSL's mlock()ed, non-dumpable secure heap and cleared on free. With
// require_locked_memory (the default), Create/Rotate fail if the heap cannot
// be locked. There is deliberately no way to export an issuing private key:
// IssuingKey offers Sign/SignTao, not the key.
//
// Wiping: a key is freed (and so wiped) when it is replaced by Rotate(),
// dropped after a failed rotation, or on Shutdown()/destruction, as soon as
// the last std::shared_ptr from Current() is released. Callers hold that
// pointer only for one signing operation.
//
// Thread safety: all methods are thread-safe. Current() is a short critical
// section; rotations are serialised and do not block Current() while the
// root signs.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "taogate/common/clock.h"
#include "taogate/common/crypto.h"
#include "taogate/keys/keys_format.h"
#include "taogate/keys/locked_key.h"
#include "taogate/keys/root_signer.h"
#include "taogate/tao/codec.h"
#include "tao.pb.h"

namespace taogate::keys {

// One issuing key and its certificate. Immutable.
class IssuingKey {
 public:
  IssuingKey(LockedEd25519Key key, std::string certificate, v1::IssuerCertificateBody body,
             int64_t issue_until_ms);
  const std::array<uint8_t, 32>& public_key() const { return public_key_; }
  const KeyId& key_id() const { return key_id_; }
  // Serialized IssuerCertificate: goes into Tao.issuer_certificate.
  const std::string& certificate() const { return certificate_; }
  const v1::IssuerCertificateBody& certificate_body() const { return body_; }
  // The key is used for new TAOs only until this time (not_after minus the
  // longest TAO lifetime), so every TAO expires within its certificate.
  int64_t issue_until_ms() const { return issue_until_ms_; }

  // Sets body.issuer_key_id, checks that the TAO's window lies inside the
  // certificate's, encodes (tao::EncodeBody) and signs. FailedPrecondition
  // if the TAO would outlive the certificate.
  absl::StatusOr<v1::Tao> SignTao(v1::TaoBody body) const;
  // Raw Ed25519 signature (for other domain-separated messages, e.g. ledger
  // checkpoints signed by a "ledger-checkpoint" key).
  absl::StatusOr<std::array<uint8_t, 64>> Sign(std::span<const uint8_t> message) const;

 private:
  LockedEd25519Key key_;
  std::array<uint8_t, 32> public_key_{};
  KeyId key_id_{};
  std::string certificate_;
  v1::IssuerCertificateBody body_;
  int64_t issue_until_ms_ = 0;
};

struct IssuingKeyOptions {
  std::string instance = "governor";  // governor instance name, in every certificate
  std::string purpose = std::string(kPurposeTaoIssuance);
  int64_t certificate_lifetime_ms = 4 * 3600 * 1000;
  int64_t rotate_every_ms = 3600 * 1000;  // must be < lifetime - max_tao_lifetime
  int64_t max_tao_lifetime_ms = tao::kMaxLifetimeMs;
  int64_t backdate_ms = 60'000;  // not_before = now - backdate (verifier clock skew)
  int64_t retry_ms = 10'000;     // scheduled retry after a failed rotation
  uint64_t last_counter = 0;     // counters continue above max(last_counter, now_ms)
  // Fail closed: after a failed rotation the current key is dropped and
  // Current() returns the error until a rotation succeeds. If false, the old
  // key keeps issuing until issue_until_ms.
  bool stop_issuing_on_rotation_failure = true;
  bool require_locked_memory = true;
  const Clock* clock = nullptr;  // outlives the manager; nullptr: RealClock()
  // Called after each successful rotation (e.g. to append KEY_ROTATED to the
  // ledger), on the rotating thread, without internal locks held.
  std::function<void(const IssuingKey&)> on_rotate;
};

class IssuingKeyManager {
 public:
  // Generates the first key and has `root` certify it. `root` is not owned
  // and must outlive the manager.
  static absl::StatusOr<std::unique_ptr<IssuingKeyManager>> Create(RootSigner* root,
                                                                   IssuingKeyOptions options);
  ~IssuingKeyManager();  // Shutdown()
  IssuingKeyManager(const IssuingKeyManager&) = delete;
  IssuingKeyManager& operator=(const IssuingKeyManager&) = delete;

  // The key to sign with now. Unavailable (with the root's error) after a
  // failed rotation, FailedPrecondition after Shutdown or when the key is
  // past issue_until_ms and no rotation succeeded.
  absl::StatusOr<std::shared_ptr<const IssuingKey>> Current() const;
  // Convenience: Current() then IssuingKey::SignTao.
  absl::StatusOr<v1::Tao> SignTao(v1::TaoBody body) const;

  // Generates and certifies a new key now; the old one is released.
  absl::Status Rotate();
  // Background rotation every rotate_every_ms (retry_ms after a failure).
  void StartScheduler();
  void StopScheduler();
  // Stops the scheduler and releases (wipes) the current key for good.
  void Shutdown();

  // For the governor's status API and metrics.
  struct Status {
    bool software_mode = false;  // shown to operators: development mode
    bool issuing = false;        // Current() would succeed now
    KeyId key_id{};              // current issuing key (zero if none)
    KeyId root_key_id{};
    uint64_t counter = 0;
    int64_t not_after_ms = 0;
    uint64_t rotations = 0;
    std::string last_error;      // empty after a successful rotation
  };
  Status Describe() const;

  bool software_mode() const { return root_->software_mode(); }
  uint64_t rotations() const;
  absl::Status last_rotation_status() const;

 private:
  IssuingKeyManager(RootSigner* root, IssuingKeyOptions options);
  int64_t Now() const;
  absl::StatusOr<std::shared_ptr<const IssuingKey>> MakeKey(uint64_t counter);
  void SchedulerLoop();

  RootSigner* const root_;
  const IssuingKeyOptions options_;
  std::mutex rotate_mu_;  // serialises Rotate(); held while the root signs
  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const IssuingKey> current_;
  absl::Status last_status_;
  uint64_t counter_ = 0;
  uint64_t rotations_ = 0;
  bool shut_down_ = false;
  bool scheduler_stop_ = false;
  std::condition_variable scheduler_cv_;
  std::thread scheduler_;
};

}  // namespace taogate::keys
