// What Ledger (files) and PgLedger (PostgreSQL) share about when to
// checkpoint and which key record a writer owes at open.
#pragma once

#include <chrono>
#include <cstdint>
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

// When a writer checkpoints, for both ledgers: after an append once
// `every_records` records were added, every `every` while records were added
// (a thread), and at close. `since` counts the records added since the last
// checkpoint (0 when none, or when the ledger cannot append); `busy` is the
// ledger's checkpoint mutex: an append-triggered checkpoint is skipped while
// another is under way (one is enough). A failed checkpoint is logged and
// tried again at the next trigger. Not started (no signer, read-only): every
// method does nothing.
class CheckpointLoop {
 public:
  CheckpointLoop() = default;
  ~CheckpointLoop() { Stop(); }
  CheckpointLoop(const CheckpointLoop&) = delete;
  CheckpointLoop& operator=(const CheckpointLoop&) = delete;

  void Start(uint64_t every_records, std::chrono::milliseconds every, std::mutex* busy,
             std::function<uint64_t()> since, std::function<absl::StatusOr<std::string>()> checkpoint);
  // After each durable append.
  void AfterAppend();
  // Stops the thread and writes the closing checkpoint if records were added.
  void Close();

 private:
  void Stop();
  void Run(const char* what);

  uint64_t every_records_ = 0;
  std::mutex* busy_ = nullptr;
  std::function<uint64_t()> since_;
  std::function<absl::StatusOr<std::string>()> checkpoint_;
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
