#include "taogate/common/clock.h"
#include "taogate/keys/issuing_key.h"

#include <algorithm>
#include <chrono>

#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/tao/signing.h"

namespace taogate::keys {
IssuingKey::IssuingKey(LockedEd25519Key key, std::string certificate,
                       v1::IssuerCertificateBody body, int64_t issue_until_ms)
    : key_(std::move(key)),
      public_key_(key_.public_key()),
      key_id_(tao::KeyIdOf(public_key_)),
      certificate_(std::move(certificate)),
      body_(std::move(body)),
      issue_until_ms_(issue_until_ms) {}

absl::StatusOr<v1::Tao> IssuingKey::SignTao(v1::TaoBody body) const {
  body.set_issuer_key_id(key_id_.data(), key_id_.size());
  if (body.not_before_ms() < body_.not_before_ms() || body.expires_at_ms() > body_.not_after_ms())
    return absl::FailedPreconditionError(
        "TAO validity window is not inside the issuing certificate's (rotate the issuing key)");
  TG_ASSIGN_OR_RETURN(std::string bytes, tao::EncodeBody(body));
  // Sign "taogate.tao.v1\0" || body directly (tao::SignTao would re-decode
  // the body we just validated and encoded).
  std::string msg(tao::kTaoSignatureDomain);
  msg.append(bytes);
  TG_ASSIGN_OR_RETURN(auto sig, key_.Sign(crypto::AsBytes(msg)));
  v1::Tao t;
  t.set_body(std::move(bytes));
  t.set_signature(sig.data(), sig.size());
  t.set_issuer_certificate(certificate_);
  return t;
}

absl::StatusOr<std::array<uint8_t, 64>> IssuingKey::Sign(std::span<const uint8_t> message) const {
  return key_.Sign(message);
}

IssuingKeyManager::IssuingKeyManager(RootSigner* root, IssuingKeyOptions options)
    : root_(root), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<IssuingKeyManager>> IssuingKeyManager::Create(
    RootSigner* root, IssuingKeyOptions options) {
  if (root == nullptr) return absl::InvalidArgumentError("no root signer");
  if (options.purpose.empty() || options.instance.empty())
    return absl::InvalidArgumentError("issuing key purpose and instance must be set");
  if (options.max_tao_lifetime_ms <= 0 || options.rotate_every_ms <= 0 || options.retry_ms <= 0 ||
      options.backdate_ms < 0 ||
      options.rotate_every_ms >= options.certificate_lifetime_ms - options.max_tao_lifetime_ms)
    return absl::InvalidArgumentError(
        "need 0 < rotate_every_ms < certificate_lifetime_ms - max_tao_lifetime_ms");
  std::unique_ptr<IssuingKeyManager> m(new IssuingKeyManager(root, std::move(options)));
  TG_RETURN_IF_ERROR(m->Rotate());
  return m;
}

IssuingKeyManager::~IssuingKeyManager() { Shutdown(); }

int64_t IssuingKeyManager::Now() const { return (options_.clock ? *options_.clock : RealClock()).WallMs(); }

absl::StatusOr<std::shared_ptr<const IssuingKey>> IssuingKeyManager::MakeKey(uint64_t counter) {
  TG_ASSIGN_OR_RETURN(LockedEd25519Key key, LockedEd25519Key::Generate(options_.require_locked_memory));
  const int64_t now = Now();
  v1::IssuerCertificateBody b;
  b.set_version(kIssuerCertVersion);
  const auto& pub = key.public_key();
  b.set_issuing_public_key(pub.data(), pub.size());
  auto id = tao::KeyIdOf(pub);
  b.set_issuing_key_id(id.data(), id.size());
  b.set_not_before_ms(now - options_.backdate_ms);
  b.set_not_after_ms(now + options_.certificate_lifetime_ms);
  b.set_purpose(options_.purpose);
  b.set_counter(counter);
  b.set_root_key_id(root_->key_id().data(), root_->key_id().size());
  b.set_software_mode(root_->software_mode());
  b.set_instance(options_.instance);
  v1::IssuerCertificate cert;
  if (!b.SerializeToString(cert.mutable_body()))
    return absl::InternalError("cannot encode issuer certificate body");
  std::string msg(kIssuerCertDomain);
  msg.append(cert.body());
  absl::StatusOr<std::string> sig = root_->Sign(msg);
  if (!sig.ok())
    return absl::Status(sig.status().code(),
                        StrCat("root key could not certify a new issuing key: ", sig.status().message()));
  cert.set_signature(*std::move(sig));
  const int64_t issue_until = b.not_after_ms() - options_.max_tao_lifetime_ms;
  return std::make_shared<const IssuingKey>(std::move(key), cert.SerializeAsString(), std::move(b),
                                            issue_until);
}

absl::Status IssuingKeyManager::Rotate() {
  std::lock_guard rotating(rotate_mu_);
  uint64_t counter;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return absl::FailedPreconditionError("issuing key manager is shut down");
    counter = std::max<uint64_t>({counter_ + 1, options_.last_counter + 1,
                                  static_cast<uint64_t>(std::max<int64_t>(Now(), 0))});
  }
  absl::StatusOr<std::shared_ptr<const IssuingKey>> key = MakeKey(counter);
  std::shared_ptr<const IssuingKey> old;  // released after the lock: its wipe is not under mu_
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return absl::FailedPreconditionError("issuing key manager is shut down");
    if (!key.ok()) {
      last_status_ = key.status();
      if (options_.stop_issuing_on_rotation_failure) old = std::move(current_);
      log::Error("issuing key rotation failed",
                 {{"error", std::string(key.status().message())}, {"purpose", options_.purpose}});
      return key.status();
    }
    old = std::exchange(current_, *key);
    counter_ = counter;
    ++rotations_;
    last_status_ = absl::OkStatus();
  }
  log::Info("issuing key rotated", {{"key_id", ToHex((*key)->key_id())},
                                    {"counter", std::to_string(counter)},
                                    {"purpose", options_.purpose},
                                    {"software_mode", root_->software_mode() ? "true" : "false"}});
  if (options_.on_rotate) options_.on_rotate(**key);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const IssuingKey>> IssuingKeyManager::Current() const {
  std::lock_guard lock(mu_);
  if (shut_down_) return absl::FailedPreconditionError("issuing key manager is shut down");
  if (!current_) {
    if (!last_status_.ok()) return last_status_;
    return absl::FailedPreconditionError("no issuing key");
  }
  if (Now() > current_->issue_until_ms())
    return absl::FailedPreconditionError(StrCat(
        "issuing key is past its issuance deadline and no rotation succeeded",
        last_status_.ok() ? std::string() : StrCat(": ", last_status_.message())));
  return current_;
}

absl::StatusOr<v1::Tao> IssuingKeyManager::SignTao(v1::TaoBody body) const {
  TG_ASSIGN_OR_RETURN(std::shared_ptr<const IssuingKey> key, Current());
  return key->SignTao(std::move(body));
}

void IssuingKeyManager::StartScheduler() {
  std::lock_guard lock(mu_);
  if (scheduler_.joinable() || shut_down_) return;
  scheduler_stop_ = false;
  scheduler_ = std::thread([this] { SchedulerLoop(); });
}

void IssuingKeyManager::StopScheduler() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    scheduler_stop_ = true;
    t = std::move(scheduler_);
  }
  scheduler_cv_.notify_all();
  if (t.joinable()) t.join();
}

void IssuingKeyManager::SchedulerLoop() {
  std::unique_lock lock(mu_);
  while (!scheduler_stop_) {
    const int64_t wait = last_status_.ok() ? options_.rotate_every_ms : options_.retry_ms;
    if (scheduler_cv_.wait_for(lock, std::chrono::milliseconds(wait),
                               [this] { return scheduler_stop_; }))
      break;
    lock.unlock();
    (void)Rotate();  // logged and recorded in last_status_
    lock.lock();
  }
}

void IssuingKeyManager::Shutdown() {
  StopScheduler();
  std::lock_guard rotating(rotate_mu_);
  std::shared_ptr<const IssuingKey> old;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    old = std::move(current_);
  }
}

IssuingKeyManager::Status IssuingKeyManager::Describe() const {
  Status s;
  s.software_mode = root_->software_mode();
  s.root_key_id = root_->key_id();
  s.issuing = Current().ok();
  std::lock_guard lock(mu_);
  if (current_) {
    s.key_id = current_->key_id();
    s.counter = current_->certificate_body().counter();
    s.not_after_ms = current_->certificate_body().not_after_ms();
  }
  s.rotations = rotations_;
  s.last_error = std::string(last_status_.message());
  return s;
}

uint64_t IssuingKeyManager::rotations() const {
  std::lock_guard lock(mu_);
  return rotations_;
}

absl::Status IssuingKeyManager::last_rotation_status() const {
  std::lock_guard lock(mu_);
  return last_status_;
}

}  // namespace taogate::keys
