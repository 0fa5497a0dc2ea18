#include "taogate/evidence/evidence.h"

#include <algorithm>

#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"

namespace taogate::evidence {
namespace {

absl::StatusOr<ledger::Hash> HashFromHex(const std::string& hex, std::string_view what) {
  auto b = FromHex(hex);
  ledger::Hash h{};
  if (!b.ok() || b->size() != h.size())
    return absl::DataLossError(StrCat("record ", what, " is not a ", h.size(), "-byte hex hash"));
  std::copy(b->begin(), b->end(), h.begin());
  return h;
}

}  // namespace

Json RecordJson(const ledger::Record& r) {
  Json fields = Json::object();
  for (const auto& [k, v] : r.fields) fields[k] = v;
  return Json{{"seq", r.seq},
              {"time_ns", r.time_ns},
              {"kind", ledger::KindName(r.kind)},
              {"fields", fields},
              {"prev_hash", ledger::Base64Encode(r.prev_hash)},
              {"hash", ledger::Base64Encode(r.hash)}};
}

absl::StatusOr<ledger::Record> RecordFromWire(uint64_t seq, int64_t time_ns, const std::string& kind,
                                              const std::map<std::string, std::string>& fields,
                                              const std::string& hash_hex, const std::string& prev_hash_hex) {
  ledger::Record r;
  r.seq = seq;
  r.time_ns = time_ns;
  auto k = ledger::KindFromName(kind);
  if (!k) return absl::DataLossError(StrCat("record ", seq, " has an unknown kind \"", kind, "\""));
  r.kind = *k;
  auto h = HashFromHex(hash_hex, "hash");
  if (!h.ok()) return h.status();
  r.hash = *h;
  auto p = HashFromHex(prev_hash_hex, "prev_hash");
  if (!p.ok()) return p.status();
  r.prev_hash = *p;
  r.fields.assign(fields.begin(), fields.end());
  return r;
}

}  // namespace taogate::evidence
