// A ledger record as an OCSF-shaped event (https://schema.ocsf.io, 1.1.0),
// for `taogatectl ledger follow --format ocsf`. The mapping (docs/evidence.md):
//   ISSUED, DENIED (governor), APPROVAL, APPROVAL_REQUESTED, BREAK_GLASS,
//   EXPIRED                         -> 3003 Authorize Session (IAM)
//   CONSUMED, EXERCISED, REJECTED, HOLD, DENIED (node: a kernel denial)
//                                   -> 4001 Network Activity (dst_endpoint
//                                      from the record's target)
//   KILLSWITCH, POLICY_ACTIVATED, KEY_ROTATED, CHECKPOINT, STARTED,
//   LOSS_ACCEPTED, WORKLOAD         -> 5019 Device Config State Change
// Every event carries metadata (product taogate, its version, uid = the
// record's leaf hash, sequence = seq, log_name = "<origin>-ledger"), time in
// unix ms, severity, and the whole record (RecordJson) under `unmapped`.
#pragma once

#include <string_view>

#include "taogate/evidence/evidence.h"

namespace taogate::evidence {

inline constexpr char kOcsfVersion[] = "1.1.0";

// origin: "node" or "governor" (which ledger the record comes from).
Json OcsfEvent(const ledger::Record& r, std::string_view origin);

}  // namespace taogate::evidence
