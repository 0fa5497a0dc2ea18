// The things the redeem path depends on, each behind one small interface so
// the decision logic is unit-tested without root, a TPM or a disk (STYLE:
// secagentd). Production implementations wrap taogate::keys (TaoVerifier),
// taogate::ledger (Evidence), statvfs on the ledger's filesystem
// (FreeSpace) and taogate::bpfgate (Gate).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "tao.pb.h"
#include "taogate/target/target.h"

namespace taogate::agent {

using TaoId = std::array<uint8_t, 16>;

// Verifies certificate chain to the trust bundle and the TAO signature
// (not the time window, binding or target: the redeemer checks those).
class TaoVerifier {
 public:
  virtual ~TaoVerifier() = default;
  virtual absl::Status VerifyChain(const v1::Tao& tao, const v1::TaoBody& body, int64_t now_ms) = 0;
};

// Append-only evidence (the node ledger). Append returns once durable.
class Evidence {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  enum class Kind { kConsumed, kExercised, kRejected, kDenied, kKillSwitch, kOperatorRefused, kWorkload, kHold,
                    kWouldDeny };
  virtual ~Evidence() = default;
  virtual absl::StatusOr<uint64_t> Append(Kind kind, Fields fields) = 0;
  // OK if an Append of `kind` would be admitted now (e.g. enough free space
  // is left for it); otherwise the error that Append would return. The
  // redeem path asks before it spends a TAO, so a TAO is not burnt when its
  // CONSUMED record could not be written anyway.
  virtual absl::Status CheckRoom(Kind) { return absl::OkStatus(); }
};

// Bytes free for the ledger on its filesystem (statvfs in production).
class FreeSpace {
 public:
  virtual ~FreeSpace() = default;
  virtual absl::StatusOr<uint64_t> FreeBytes() = 0;
};

// The kernel gate as the redeem path sees it.
class GrantTable {
 public:
  virtual ~GrantTable() = default;
  // True if `target` is protected on this node (a grant is meaningful). A
  // DNS name (docs/names.md) is protected when it has a current address set
  // the gate protects, of at most bpf::Gate::kMaxGrantSet addresses.
  virtual bool IsProtected(const v1::Target& target) const = 0;
  // Installs a one-shot grant for cgroup `cgroup_id`; an error means no
  // grant exists. A DNS name gets one grant over its current address set,
  // spent as a whole by the first connect to any of them.
  virtual absl::Status InstallGrant(uint64_t cgroup_id, const v1::Target& target, const TaoId& id,
                                    int64_t expires_at_unix_ms) = 0;
};

// The current address sets of the protected DNS names (TargetSync): what
// a named TAO's grant covers. Implementations must be thread-safe.
class NameAddressSource {
 public:
  virtual ~NameAddressSource() = default;
  virtual std::vector<target::Ip> NameAddresses(const std::string& name) const = 0;
};

// The kernel gate's protected-target maps, as TargetSync programs them.
// Adding a target already present and removing one absent are not errors;
// a failed add may leave part of a port range in place (the caller rolls
// back with RemoveTarget). Implementations must be thread-safe.
class TargetTable {
 public:
  virtual ~TargetTable() = default;
  // tcp/udp/any with an IP prefix (Host::kPrefix), or unix.
  virtual absl::Status AddTarget(const target::Target& t) = 0;
  // The same entry in audit mode (docs/audit-mode.md): what it would deny
  // is allowed and reported. Adding an entry that exists switches its mode
  // in place (one map update, no instant unprotected). A table without
  // audit mode enforces (the safe direction).
  virtual absl::Status AddAuditTarget(const target::Target& t) { return AddTarget(t); }
  virtual absl::Status RemoveTarget(const target::Target& t) = 0;
  // True in protect-listed mode, where only listed targets are denied (so
  // failing closed needs a catch-all); false in deny-all mode.
  virtual bool ProtectsListedOnly() const = 0;
};

}  // namespace taogate::agent
