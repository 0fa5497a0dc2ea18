// Ledger records as evidence for log shippers (docs/evidence.md): the JSON
// line `taogatectl ledger tail|follow` prints, and the record rebuilt from a
// LedgerRead answer (agent or governor). Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "taogate/ledger/record.h"

namespace taogate::evidence {

using Json = nlohmann::ordered_json;

// {"seq","time_ns","kind","fields":{...},"prev_hash","hash"}; hashes base64.
Json RecordJson(const ledger::Record& r);

// A record from its wire form (LedgerRecord / GovernorLedgerRecord): fields
// come in key order (a proto map keeps no order); hashes are hex.
absl::StatusOr<ledger::Record> RecordFromWire(uint64_t seq, int64_t time_ns, const std::string& kind,
                                              const std::map<std::string, std::string>& fields,
                                              const std::string& hash_hex, const std::string& prev_hash_hex);

}  // namespace taogate::evidence
