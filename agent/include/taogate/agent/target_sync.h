// TargetSync: the governor's protected targets (v1::ProtectedTargets) in the
// kernel gate's maps, the on-disk cache of the last applied set, and the
// fail-closed catch-all used while no set is known.
//
// Apply(msg): the whole message is validated first; one malformed entry
// rejects the whole update (logged + a POLICY_ACTIVATED record with
// event=rejected) and the previous set stays. A valid message is applied by
// diff after being persisted to the cache (add new, remove gone, then re-add
// everything still wanted so that entries sharing a map key with a removed
// one survive; on a failed add the additions and the cache are rolled back),
// and recorded (POLICY_ACTIVATED, component=agent, event=applied).
// An entry with audit set (docs/audit-mode.md) goes to the gate with
// TargetTable::AddAuditTarget, unless an enforced or static target wants the
// same key; an entry whose only change is its mode is switched in place by
// the re-add (one map update), never removed and added again.
// Static config targets are never removed. FILE/EXEC entries go to the
// optional FileExecSink; without one they are logged as not enforced and
// counted (field not_enforced), not an error.
//
// Fail closed ("denies what is unknown"): Start() loads the cache. If there
// is no usable cache (absent, corrupt, invalid) the catch-all targets
// any:0.0.0.0/0:* and any:[::]/0:* are added with kind PROTECT: every IP
// destination of a governed workload then needs a grant (a redeemed TAO), so
// nothing is reachable without governance, while unix sockets -- including
// the agent's own workload socket, so redeem keeps working -- are not
// covered. The catch-all lives in the pinned maps, so it also holds while no
// agent runs. It is lifted only by the first valid bundle applied. It never
// touches quarantine, so a kill switch engaged meanwhile is unaffected. In
// deny-all mode the gate denies every destination without a grant anyway,
// so no catch-all is written there.
//
// Cache file format (little endian), written as temp + fsync + rename +
// fsync(dir):
//   [0..8)    magic "TGTARGS1"
//   [8..12)   u32 payload length N (<= kMaxCachePayload)
//   [12..44)  SHA-256 of the payload
//   [44..44+N) payload: v1::ProtectedTargets, protobuf binary
// Nothing may follow the payload. Anything else is DataLoss ("corrupt").
//
// Node targets (node_addresses.h): a static "tcp:node:5432" or a governor
// entry with cidr "node" is expanded into one exact target per node address
// (SetNodeAddresses). An address change is applied by diff like an update:
// additions first (any failure rolls them back and the previous set stays,
// fail closed), then removals, then everything still wanted is re-added (an
// entry shared with another target survives); it is logged and recorded
// (POLICY_ACTIVATED, component=agent, event=node_addresses, count = node
// addresses, added, removed; event=node_addresses_rejected on failure).
//
// Named targets (docs/names.md): a governor entry with host_name set is
// expanded into one exact target {proto, address/32 or /128, its ports} per
// current address of the name, the way node targets expand over the node's
// addresses. The names of an applied set are handed to the NameWatcher (the
// DNS resolver); its answers come back through SetNameAddresses, which
// applies the difference like a node address change and appends one
// POLICY_ACTIVATED record (event=name_addresses) per change. An address
// shared by two names, or by a name and a CIDR or static target, has one
// map key and stays protected while anything still wants it. A set naming
// hosts is applied at once (its names' addresses join as they are answered);
// without a NameWatcher it is refused whole, as an unresolvable set must be.
// While the fail-closed catch-all is in force it is lifted only once every
// name of the set has an address (a name never resolved has no address to
// protect, so until then every IP destination needs a grant).
//
// Without a governor (cache_path empty) Start() applies the static targets
// only: no cache, no catch-all.
//
// Thread safety: all public methods are serialised by an internal mutex.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/agent/deps.h"
#include "taogate/ledger/ledger.h"
#include "taogate/target/target.h"

namespace taogate::agent {

// FILE and EXEC protection is enforced elsewhere (LSM); the agent hands the
// paths over through this interface. Implementations must be thread-safe.
class FileExecSink {
 public:
  virtual ~FileExecSink() = default;
  virtual absl::Status Protect(v1::TargetProto kind, const std::string& path) = 0;
  virtual absl::Status Unprotect(v1::TargetProto kind, const std::string& path) = 0;
};

// The bundle's governed-pod selectors (pods mode): checked with the rest of
// an update (a malformed selector rejects the whole update, the previous set
// stays) and handed over once the update is applied (also from the cache at
// Start). Implementations must be thread-safe.
class GovernedPodsSink {
 public:
  virtual ~GovernedPodsSink() = default;
  virtual absl::Status Check(const v1::ProtectedTargets& msg) = 0;
  virtual void Applied(const v1::ProtectedTargets& msg) = 0;
};

// Where the DNS names of an applied set are watched (NameResolution over
// dns::Resolver). Watch replaces the watched set; an error refuses the set.
class NameWatcher {
 public:
  virtual ~NameWatcher() = default;
  virtual absl::Status Watch(const std::vector<std::string>& names) = 0;
};

inline constexpr uint32_t kMaxCachePayload = 16u << 20;
inline constexpr size_t kMaxProtectedTargets = 16384;

// Checks every entry; InvalidArgument naming the first bad one.
absl::Status ValidateProtectedTargets(const v1::ProtectedTargets& msg);

// NotFound if the file does not exist, DataLoss if it is corrupt.
absl::StatusOr<v1::ProtectedTargets> LoadTargetsCache(const std::string& path);
absl::Status SaveTargetsCache(const std::string& path, const v1::ProtectedTargets& msg);

// The names cache (cache_path + ".names"): the last applied answers of the
// protected names, so a restarted agent protects them at once (and removes
// the ones that changed while it was down when the first answers arrive).
// Same framing as the targets cache with magic "TGNAMES1"; the payload is
// one line per name, "NAME ADDR,ADDR,...\n" (canonical name, IP literals).
using NameAddressMap = std::map<std::string, std::vector<target::Ip>>;
absl::StatusOr<NameAddressMap> LoadNamesCache(const std::string& path);
absl::Status SaveNamesCache(const std::string& path, const NameAddressMap& names);

struct TargetSyncOptions {
  std::string cache_path;
  std::string node_id;
  // target::Parse protected form, node targets included ("tcp:node:5432"); never removed
  // (a node target's entries follow the node's addresses).
  std::vector<std::string> static_targets;
  GovernedPodsSink* pods = nullptr;  // pods mode; must outlive the TargetSync
  // Governed-root mode: the set's audited workloads (audit_workloads.h); in
  // pods mode `pods` takes them. Must outlive the TargetSync.
  GovernedPodsSink* audit = nullptr;
  NameWatcher* names = nullptr;      // null: sets naming hosts are refused; must outlive
};

// One protected name as the gate holds it (status, capability table).
struct NameView {
  std::string name;
  std::vector<target::Ip> addrs;         // current, sorted
  std::vector<std::string> shared_with;  // other names / targets wanting one of its map keys
};

struct TargetSyncState {
  bool have_bundle = false;  // a set (cached or received) is applied
  bool fail_closed = false;  // the catch-all is in force
  std::string policy_sha256;
  uint64_t targets = 0;       // entries of the applied set
  uint64_t not_enforced = 0;  // FILE/EXEC entries without a sink
  uint64_t applied_total = 0;
  uint64_t rejected_total = 0;
  // Sets refused because they name DNS hosts and this agent has no resolver
  // (the previous set stays). Also in rejected_total.
  uint64_t names_unresolved_total = 0;
  uint64_t names = 0;                       // DNS names of the applied set
  uint64_t names_pending = 0;               // of those, without an address yet
  uint64_t name_changes_total = 0;          // address changes applied
  uint64_t name_change_failures_total = 0;  // changes the gate refused (retried)
  std::string last_error;
  uint64_t node_addresses = 0;               // addresses node targets expand over
  uint64_t node_address_changes_total = 0;   // applied address changes
  uint64_t node_address_failures_total = 0;  // address changes refused (old set kept)
};

class TargetSync final : public NameAddressSource {
 public:
  // gate (GateGrants in production), ledger and sink (nullable) must outlive
  // this object.
  TargetSync(TargetTable& gate, ledger::Ledger& ledger, FileExecSink* sink, TargetSyncOptions options);

  // Self-check at agent start: applies the cache, or engages the catch-all.
  // Errors only if the gate refuses the catch-all (the agent must not start).
  absl::Status Start();

  // Validates, applies, persists, records. The previous set stays on error.
  absl::Status Apply(const v1::ProtectedTargets& msg);

  TargetSyncState state() const;

  // The node's addresses (any order; non-literals dropped). Before the first
  // Start() or Apply() it only sets the list they expand over; after, it
  // re-expands every node target and applies the difference. On error the previous set (and
  // address list) stays.
  absl::Status SetNodeAddresses(const std::vector<std::string>& addrs);

  // One resolver change of `name` (dns::Change: added, removed, or
  // unwatched = forget it): its address set becomes the old one plus added
  // minus removed and the gate follows by diff. A gate error keeps the
  // previous maps (fail closed: a removed address stays protected, an added
  // one is retried by the next change or set) and is returned.
  absl::Status SetNameAddresses(const std::string& name, const std::vector<target::Ip>& added,
                                const std::vector<target::Ip>& removed, bool unwatched, uint32_t ttl_s,
                                const std::vector<std::string>& chain);
  // NameAddressSource: the addresses the gate protects for `name` now
  // (empty if it is not a name of the applied set or has none yet).
  std::vector<target::Ip> NameAddresses(const std::string& name) const override;
  std::vector<NameView> Names() const;

  // Hold mode (hold_rules.h): the ids (ProtectedTarget.name) of the applied
  // set's entries covering the single destination `dest` (node and named
  // entries over their current addresses), and the set's hold rules.
  std::set<std::string> TargetIdsAt(const target::Target& dest) const;
  std::vector<v1::HoldRule> HoldRules() const;
  // The governor's targets in audit mode (ProtectedTarget.audit,
  // docs/audit-mode.md), canonical text, as declared (names unexpanded).
  std::vector<std::string> AuditedTargetSpecs() const;

  // The declared IP targets (static, then the governor's set) in the
  // target::Parse protected form, node targets as "tcp:node:P", for status checks.
  std::vector<std::string> NetworkTargetSpecs() const;

 private:
  // canonical text (target::Format) -> target: tcp/udp/any/unix go to the
  // gate, file/exec to the sink.
  using EntryMap = std::map<std::string, target::Target>;
  // What one update's additions did, for the commit or the rollback.
  struct Additions {
    std::vector<const target::Target*> added;  // into the wanted map
    uint64_t not_enforced = 0;
    absl::Status error;
    std::set<std::string> absent_before;  // absent_ as it was
  };

  absl::Status ApplyLocked(const v1::ProtectedTargets& msg, const char* source);
  // Steps of ApplyLocked, in order.
  absl::Status RejectLocked(const v1::ProtectedTargets& msg, const char* source, const absl::Status& st);
  bool IsResendLocked(const v1::ProtectedTargets& msg, const EntryMap& wanted) const;
  std::string PersistLocked(const v1::ProtectedTargets& msg);  // "" or why the cache was not written
  Additions AddWantedLocked(const EntryMap& wanted);
  void RollBackLocked(const Additions& a, bool restore_cache);
  uint64_t RemoveUnwantedLocked(const EntryMap& wanted);
  void CommitLocked(const v1::ProtectedTargets& msg, const char* source, const Additions& a, uint64_t removed,
                    const std::string& persist_error);

  EntryMap WantedOf(const v1::ProtectedTargets& msg, const std::vector<std::string>& addrs) const;
  // Moves the gate from (applied_, static_) to (next_applied, next_static):
  // additions first, rolled back on a failure; then removals; then re-adds.
  absl::Status MoveToLocked(EntryMap next_applied, EntryMap next_static, std::set<std::string> next_audited,
                            size_t* added, size_t* removed);
  // Audit mode (docs/audit-mode.md): the keys of a set that only audited
  // targets want; AddLocked writes a key in the mode audited_ says.
  std::set<std::string> AuditedOf(const v1::ProtectedTargets& msg, const std::vector<std::string>& addrs) const;
  absl::Status AddLocked(const target::Target& t);
  void MaybeLiftLocked();
  EntryMap StaticOf(const std::vector<std::string>& addrs) const;
  absl::Status EngageFailClosedLocked();
  bool CatchAllWantedLocked() const;
  absl::Status LiftFailClosedLocked();
  absl::Status ReaddLocked(const EntryMap& wanted);
  void RecordLocked(std::string event, const std::string& sha, uint64_t count, const std::string& error);

  TargetTable& gate_;
  ledger::Ledger& ledger_;
  FileExecSink* sink_;
  TargetSyncOptions options_;
  mutable std::mutex mu_;
  EntryMap applied_;
  std::set<std::string> absent_;  // FILE/EXEC keys whose path was missing: retried on every update
  std::optional<v1::ProtectedTargets> applied_msg_;  // what the cache should hold
  EntryMap static_;  // static targets, node targets expanded
  std::set<std::string> audited_;  // keys of applied_ in audit mode
  std::vector<std::string> node_addrs_;  // canonical, sorted
  NameAddressMap name_addrs_;                 // current answers, by name
  std::set<std::string> seeded_;         // from the names cache, no fresh answer yet
  bool started_ = false;
  TargetSyncState state_;
};

}  // namespace taogate::agent
