// What Ledger (files) and PgLedger (PostgreSQL) share about when to
// checkpoint and which key record a writer owes at open.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "taogate/ledger/record.h"
#include "taogate/ledger/signer.h"

namespace taogate::ledger::internal {

// A thread that calls `checkpoint` every `every` while `due` says records
// were added since the last one; stopped (and joined) by Stop or the
// destructor. A failed checkpoint is logged and tried again next time.
class CheckpointLoop {
 public:
  CheckpointLoop() = default;
  ~CheckpointLoop() { Stop(); }
  CheckpointLoop(const CheckpointLoop&) = delete;
  CheckpointLoop& operator=(const CheckpointLoop&) = delete;

  void Start(std::chrono::milliseconds every, std::function<bool()> due,
             std::function<absl::StatusOr<std::string>()> checkpoint);
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The KEY_ROTATED record a writer's open appends before any checkpoint its
// signer makes, unless the ledger's last KEY_ROTATED record of the same scope
// (key_by_scope: scope -> key_id) already names this key.
struct KeyRecord {
  Fields fields;
  std::string scope, key_id;
};
std::optional<KeyRecord> KeyRecordOwed(const Signer* signer, const std::map<std::string, std::string>& key_by_scope);

}  // namespace taogate::ledger::internal
