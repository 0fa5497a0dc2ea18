// Health of the governor's TPM root, and the issuance gate that follows it.
//
// Issuance is TPM-anchored, but TAOs are signed by a delegated in-memory
// issuing key: without a probe, a dead TPM would be noticed only at the next
// rotation (an hour later). TpmHealth probes the root every
// `probe_interval_ms` (RootSigner::CheckHealth: TPM2_ReadPublic of the root
// key through the signer's one worker thread, bounded in time, no transient
// handles) and:
//   - logs one line per transition (reachable -> unreachable, issuance
//     stopped, reachable again), never one per probe;
//   - refuses issuance (IssuanceAllowed: Unavailable) once the TPM has been
//     unreachable for longer than `grace_ms` (0 = from the first failed
//     probe on), measured from the first failed probe;
//   - on recovery, re-delegates the issuing key (IssuingKeyManager::Rotate)
//     if it was dropped meanwhile (a rotation failed), then allows issuance.
// A software root has nothing to probe: always up, no thread.
//
// Ownership: borrows `root` and `issuing`, which must outlive it; the
// destructor stops and joins the probe thread. Thread safety: all methods.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "taogate/common/clock.h"
#include "taogate/keys/issuing_key.h"
#include "taogate/keys/root_signer.h"

namespace taogate::governance {

struct TpmHealthOptions {
  int64_t probe_interval_ms = 5000;
  int64_t grace_ms = 0;  // issuance continues this long after the TPM became unreachable
  const Clock* clock = nullptr;  // monotonic time of probes and grace; nullptr: RealClock()
};

class TpmHealth {
 public:
  TpmHealth(keys::RootSigner* root, keys::IssuingKeyManager* issuing, TpmHealthOptions options);
  ~TpmHealth();
  TpmHealth(const TpmHealth&) = delete;
  TpmHealth& operator=(const TpmHealth&) = delete;

  // Starts the probe thread (TPM roots only).
  void Start();

  // OkStatus, or Unavailable naming the TPM error while issuance is stopped.
  absl::Status IssuanceAllowed() const;

  struct Snapshot {
    bool tpm = false;       // false: software root (nothing probed)
    bool up = true;         // last probe succeeded
    bool issuing = true;    // IssuanceAllowed() is OK
    uint64_t probe_failures = 0;
    double seconds_since_good_probe = 0;
    double seconds_unreachable = 0;  // 0 while up
    int64_t grace_ms = 0;
    std::string last_error;  // of the last failed probe
  };
  Snapshot Get() const;

 private:
  void Loop();
  void ProbeOnce();
  absl::Status AllowedLocked(int64_t now_ns) const;  // requires mu_
  int64_t Now() const;  // monotonic ns from options_.clock

  keys::RootSigner* const root_;
  keys::IssuingKeyManager* const issuing_;
  const TpmHealthOptions options_;
  const bool tpm_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool up_ = true;
  bool stopped_logged_ = false;  // "issuance stopped" logged for this outage
  uint64_t failures_ = 0;
  int64_t last_good_ns_ = 0;   // monotonic
  int64_t down_since_ns_ = 0;  // monotonic
  std::string last_error_;
  std::thread thread_;
};

}  // namespace taogate::governance
