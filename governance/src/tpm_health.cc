#include "taogate/governance/tpm_health.h"

#include "taogate/common/log.h"
#include "taogate/common/strings.h"

namespace taogate::governance {
namespace {

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace

TpmHealth::TpmHealth(keys::RootSigner* root, keys::IssuingKeyManager* issuing,
                     TpmHealthOptions options)
    : root_(root), issuing_(issuing), options_(options), tpm_(!root->software_mode()) {
  last_good_ns_ = Now();
}

int64_t TpmHealth::Now() const { return (options_.clock ? *options_.clock : RealClock()).MonoNs(); }

TpmHealth::~TpmHealth() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TpmHealth::Start() {
  std::lock_guard l(mu_);
  if (!tpm_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void TpmHealth::Loop() {
  std::unique_lock l(mu_);
  while (!stop_) {
    if (cv_.wait_for(l, std::chrono::milliseconds(options_.probe_interval_ms),
                     [this] { return stop_; }))
      break;
    l.unlock();
    ProbeOnce();
    l.lock();
  }
}

void TpmHealth::ProbeOnce() {
  const absl::Status st = root_->CheckHealth();
  const int64_t now = Now();
  bool recovered = false;
  {
    std::lock_guard l(mu_);
    if (st.ok()) {
      recovered = !up_;
      if (recovered)
        log::Info("TPM reachable again: issuance resumes",
                  {{"unreachable_s", StrCat(static_cast<int64_t>(Seconds(now - down_since_ns_)))}});
      up_ = true;
      stopped_logged_ = false;
      last_good_ns_ = now;
    } else {
      ++failures_;
      last_error_ = std::string(st.message());
      if (up_) {
        up_ = false;
        down_since_ns_ = now;
        log::Error("TPM unreachable", {{"error", last_error_},
                                       {"grace_s", StrCat(options_.grace_ms / 1000)}});
      }
      if (!stopped_logged_ && !AllowedLocked(now).ok()) {
        stopped_logged_ = true;
        log::Error("TAO issuance stopped: the TPM root is unreachable beyond the grace",
                   {{"grace_s", StrCat(options_.grace_ms / 1000)}, {"error", last_error_}});
      }
    }
  }
  // A rotation that failed during the outage dropped the issuing key:
  // delegate a new one now rather than at the scheduler's next retry.
  if (recovered && !issuing_->Current().ok()) {
    absl::Status r = issuing_->Rotate();  // logged (and recorded) by the manager
    if (!r.ok()) log::Error("issuing key not re-delegated", {{"error", std::string(r.message())}});
  }
}

absl::Status TpmHealth::AllowedLocked(int64_t now) const {
  if (up_) return absl::OkStatus();
  if (now - down_since_ns_ < options_.grace_ms * 1'000'000) return absl::OkStatus();
  return absl::UnavailableError(
      StrCat("TPM root unreachable for ", static_cast<int64_t>(Seconds(now - down_since_ns_)),
             " s (grace ", options_.grace_ms / 1000, " s): TAO issuance stopped until it is back: ",
             last_error_));
}

absl::Status TpmHealth::IssuanceAllowed() const {
  std::lock_guard l(mu_);
  return AllowedLocked(Now());
}

TpmHealth::Snapshot TpmHealth::Get() const {
  std::lock_guard l(mu_);
  const int64_t now = Now();
  Snapshot s;
  s.tpm = tpm_;
  s.up = up_;
  s.issuing = AllowedLocked(now).ok();
  s.probe_failures = failures_;
  s.seconds_since_good_probe = tpm_ ? Seconds(now - last_good_ns_) : 0;
  s.seconds_unreachable = up_ ? 0 : Seconds(now - down_since_ns_);
  s.grace_ms = options_.grace_ms;
  s.last_error = last_error_;
  return s;
}

}  // namespace taogate::governance
