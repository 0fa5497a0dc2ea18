#include "checkpoint_loop.h"

#include "taogate/common/log.h"

namespace taogate::ledger::internal {

void CheckpointLoop::Start(std::chrono::milliseconds every, std::function<bool()> due,
                           std::function<absl::StatusOr<std::string>()> checkpoint) {
  thread_ = std::thread([this, every, due = std::move(due), checkpoint = std::move(checkpoint)] {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, every, [this] { return stop_; })) {
      if (!due()) continue;
      lk.unlock();
      auto note = checkpoint();
      if (!note.ok()) log::Warn("ledger: periodic checkpoint failed", {{"error", std::string(note.status().message())}});
      lk.lock();
    }
  });
}

void CheckpointLoop::Stop() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
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
