#include "checkpoint_loop.h"

#include "taogate/common/log.h"
#include "taogate/common/strings.h"

namespace taogate::ledger::internal {

void CheckpointLoop::Start(uint64_t every_records, std::chrono::milliseconds every, std::mutex* busy,
                           std::function<uint64_t()> since,
                           std::function<absl::StatusOr<std::string>()> checkpoint) {
  every_records_ = every_records;
  busy_ = busy;
  since_ = std::move(since);
  checkpoint_ = std::move(checkpoint);
  if (every.count() <= 0) return;
  thread_ = std::thread([this, every] {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, every, [this] { return stop_; })) {
      if (since_() == 0) continue;
      lk.unlock();
      Run("periodic checkpoint");
      lk.lock();
    }
  });
}

void CheckpointLoop::Run(const char* what) {
  auto note = checkpoint_();
  if (!note.ok()) log::Warn(StrCat("ledger: ", what, " failed"), {{"error", std::string(note.status().message())}});
}

void CheckpointLoop::AfterAppend() {
  if (!checkpoint_ || every_records_ == 0 || since_() < every_records_) return;
  std::unique_lock one(*busy_, std::try_to_lock);  // one is enough
  if (!one.owns_lock()) return;
  one.unlock();
  Run("checkpoint");
}

void CheckpointLoop::Stop() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CheckpointLoop::Close() {
  Stop();
  if (checkpoint_ && since_() > 0) Run("closing checkpoint");
}

std::optional<KeyRecord> KeyRecordOwed(const Signer* signer, const std::map<std::string, std::string>& key_by_scope) {
  if (signer == nullptr) return std::nullopt;
  KeyRecord k{signer->KeyRecordFields(), "", ""};
  if (k.fields.empty()) return std::nullopt;
  for (const auto& [n, v] : k.fields) {
    if (n == "scope") k.scope = v;
    if (n == "key_id") k.key_id = v;
  }
  auto it = key_by_scope.find(k.scope);
  if (it != key_by_scope.end() && it->second == k.key_id) return std::nullopt;
  return k;
}

}  // namespace taogate::ledger::internal
