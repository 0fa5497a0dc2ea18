// The governor's decision core, independent of gRPC: policy evaluation,
// pending approvals, break-glass, TAO issuance, policy activation, kill-switch
// broadcast, and the governor ledger. The gRPC service (service.h) maps the
// verified peer identity to `actor` and calls these methods.
//
// Fail closed: any error on the way to PERMIT (policy, ledger, key, signing)
// is a refusal; a decision is returned only after its ledger record is
// durable, and a TAO only after its ISSUED record is.
//
// Thread safety: every method may be called concurrently. One mutex guards the
// decision table, nonces and kill-switch log; policy is an atomically swapped
// shared_ptr<const Policy>; ledger appends and signatures happen outside the
// mutex. Watch* methods block on condition variables and return early on
// Shutdown().
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "governor.pb.h"
#include "taogate/common/clock.h"
#include "taogate/governance/governor_keys.h"
#include "taogate/governance/notifier.h"
#include "taogate/ledger/log.h"
#include "taogate/policies/policy.h"
#include "taogate/policies/reason.h"
#include "taogate/policies/rate_limiter.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::governance {

namespace internal {
class PgSharedState;
}

struct GovernorOptions {
  std::string instance = "governor";
  // Where the governor ledger is: a directory (one replica), or, when
  // ledger_postgres is set, a PostgreSQL database shared by every replica
  // (a libpq connection string; pg_ledger.h, docs/governor.md "Replicas").
  std::string ledger_dir;
  std::string ledger_postgres;
  // First line of every checkpoint note. Empty: "taogate/governor/<instance>"
  // for a directory, "taogate/governor" for PostgreSQL (one log, many
  // replicas: the signature line names the replica's key).
  std::string ledger_origin;
  bool ledger_fsync = true;
  uint64_t checkpoint_every_records = 1000;
  std::chrono::milliseconds checkpoint_every{60'000};
  // Actors (URI SANs) allowed to activate policy, review break-glass and
  // broadcast the kill switch.
  std::vector<std::string> admins;
  // Trust domain of node identities spiffe://<trust_domain>/node/<id> that
  // may attest workloads (AuthorizationRequest.attested). Empty: any trust
  // domain the client CA vouches for, and the derived workload identity is
  // in the node's own (docs/governor.md, "Node attestation: trust rules").
  std::string trust_domain;
  int64_t approval_window_ms = 10 * 60 * 1000;  // pending decisions expire
  int64_t approval_max_age_ms = 5 * 60 * 1000;  // freshness of an approval signature
  int64_t approval_max_future_ms = 30 * 1000;
  size_t max_decisions = 100000;  // remembered decisions (oldest finished ones go first)
  const Clock* clock = nullptr;  // outlives the Governor; nullptr: RealClock()
  // Told of pending approvals, break-glass and kill-switch changes once
  // their records are durable (notifier.h); outlives the Governor.
  Notifier* notifier = nullptr;
  // With the console (console.h): a one-time link to a pending decision,
  // valid until `until_ms`, put in its notification as console_link.
  std::function<std::string(const std::string& decision_id, int64_t until_ms)> console_link;
};

// An approval whose signature a front end (the console's WebAuthn) has
// verified: the governor applies the decision-side checks (pending, same
// intent, role, not self, once per approver) and records `evidence` in the
// APPROVAL record, so an auditor can re-verify the signature offline.
struct VerifiedApproval {
  std::string decision_id;
  std::string intent_sha256;  // the 32 bytes the approver's signature covers
  std::string approver;       // bundle actor identity
  bool approve = true;
  std::string nonce_hex;      // replay key: claimed once
  int64_t nonce_until_ms = 0;
  std::vector<std::pair<std::string, std::string>> evidence;  // ledger fields
};

// What the console shows of a decision (never the TAO).
struct DecisionSummary {
  v1::Decision decision;
  std::string workload;  // the bound workload path
  std::string node_id;
  std::string action;
  std::string target;    // FormatTargetRef text
  std::string reason;    // the sanitized summary the ledger keeps
  bool break_glass = false;
  bool reviewed = false;
};

class Governor {
 public:
  // Opens the ledger (appends STARTED and KEY_ROTATED records) and activates
  // `initial_policy_yaml` (refused: error with every line). `keys` must
  // outlive the Governor.
  static absl::StatusOr<std::unique_ptr<Governor>> Create(GovernorOptions options,
                                                          GovernorKeys* keys,
                                                          std::string initial_policy_yaml,
                                                          std::string policy_name);
  ~Governor();

  // `actor` is the verified caller. With req.attested set, only a node
  // identity may call, for its own node; the actor is then the workload
  // identity derived from the attestation (attest.h).
  absl::StatusOr<v1::Decision> RequestAuthorization(const std::string& actor,
                                                    const v1::AuthorizationRequest& req);
  // NotFound for unknown ids. The TAO is returned only to the caller that
  // asked (the node agent, for an attested request).
  absl::StatusOr<v1::Decision> GetDecision(const std::string& actor, const std::string& id);
  // Blocks until the decision differs from `seen_version` (its state counter),
  // the deadline passes or Shutdown. Returns the decision and its version.
  absl::StatusOr<std::pair<v1::Decision, uint64_t>> WaitDecision(
      const std::string& actor, const std::string& id, uint64_t seen_version,
      std::chrono::steady_clock::time_point deadline);
  absl::StatusOr<v1::Decision> Approve(const std::string& actor, const v1::ApprovalRequest& req,
                                       bool approve);
  absl::StatusOr<v1::Decision> ApproveVerified(const std::string& actor, const VerifiedApproval& a);
  // The decisions this governor remembers, newest first (at most `max`).
  std::vector<DecisionSummary> Decisions(size_t max) const;
  // NotFound for unknown ids.
  absl::StatusOr<DecisionSummary> Summary(const std::string& id);
  bool IsAdmin(const std::string& actor) const;

  absl::StatusOr<v1::Decision> BreakGlass(const std::string& actor,
                                          const v1::BreakGlassRequest& req);
  absl::StatusOr<v1::ReviewResponse> Review(const std::string& actor,
                                            const v1::ReviewRequest& req);

  // Refused bundles: response.errors holds FILE:LINE:COL lines (status OK so
  // callers see them); non-admins get PermissionDenied.
  absl::StatusOr<v1::ActivatePolicyResponse> ActivatePolicy(const std::string& actor,
                                                            const v1::ActivatePolicyRequest& req);
  v1::GetPolicyResponse GetPolicy() const;
  // A policy file re-read by a reload (server.h): activated exactly as
  // ActivatePolicy does (same records, same protected-target update to the
  // agents), the actor being "file:<path>". Refused: InvalidArgument, the
  // errors in *errors, the active bundle unchanged.
  absl::Status ActivateFile(const std::string& path, const std::string& yaml,
                            std::vector<std::string>* errors);
  // Appends one RELOADED record per file a reload changed, or the one that
  // refused it, and counts the reload for /metrics.
  absl::Status RecordReload(bool ok, std::vector<ledger::Fields> records);
  // The active protected targets and the activation counter.
  std::pair<v1::ProtectedTargets, uint64_t> ProtectedTargets() const;
  // Blocks until the activation counter exceeds `seen` (or deadline/Shutdown).
  bool WaitPolicyChange(uint64_t seen, std::chrono::steady_clock::time_point deadline);

  absl::StatusOr<v1::LedgerCheckpointResponse> Checkpoint();
  // The latest checkpoint if it covers record `seq` (tree size > seq), else
  // a new one: what the console's ledger explorer verifies a proof against.
  absl::StatusOr<v1::LedgerCheckpointResponse> CheckpointCovering(uint64_t seq);
  // APPROVER_ENROLLED: `identity` registered a WebAuthn credential through
  // the console (`evidence`: credential_id, public_key, ...).
  absl::StatusOr<uint64_t> RecordEnrollment(const std::string& identity, ledger::Fields evidence);
  absl::StatusOr<v1::GovernorLedgerProofResponse> Proof(uint64_t seq, uint64_t tree_size) const;
  // Admins only: records from_seq.. (at most 1000) and the size; OUT_OF_RANGE
  // past the end.
  absl::StatusOr<v1::GovernorLedgerReadResponse> LedgerRead(const std::string& actor,
                                                            const v1::GovernorLedgerReadRequest& req) const;

  absl::StatusOr<v1::GovernorKillSwitchResponse> KillSwitch(const std::string& actor,
                                                            v1::GovernorKillSwitchRequest req);
  // Kill-switch messages with sequence > after (for node `node_id`: messages
  // for all nodes or that node), blocking until there is a newer broadcast or
  // the deadline. *latest = the newest sequence (pass it as `after` next).
  std::vector<v1::GovernorKillSwitchRequest> WaitKillSwitch(
      const std::string& node_id, uint64_t after, std::chrono::steady_clock::time_point deadline,
      uint64_t* latest);

  void Shutdown();
  bool shutting_down() const;
  const ledger::Log& ledger() const { return *ledger_; }
  std::shared_ptr<const policies::Policy> policy() const;

  // Counters for /metrics.
  struct Stats {
    uint64_t permit = 0, deny = 0, pending = 0, approvals = 0, rejections = 0, expired = 0,
             break_glass = 0, activations = 0, rate_limited = 0, issue_errors = 0;
    uint64_t reload_ok = 0, reload_refused = 0;  // reloads that changed something / refused
  };
  Stats stats() const;
  // taogate_governor_decision_seconds{outcome="permit|deny|pending_approval|
  // error"}: RequestAuthorization's time to its answer (error: refused before
  // a decision: invalid, rate-limited, attestation, ledger), with HELP and TYPE.
  std::string LatencyText() const;
  // The last ledger append's status (OK before the first) and the failed
  // appends so far: /healthz and taogate_governor_ledger_append_failures_total.
  absl::Status last_append() const;
  uint64_t append_failures() const;

 private:
  struct Entry;  // one decision (governor_state.h)
  Governor(GovernorOptions options, GovernorKeys* keys);
  int64_t NowMs() const;
  static DecisionSummary Summarize(const Entry& e);  // requires mu_
  absl::Status Activate(const std::string& actor, const std::string& yaml,
                        const std::string& name, std::vector<std::string>* errors);
  // RequestAuthorization without its timing.
  absl::StatusOr<v1::Decision> Decide(const std::string& actor, const v1::AuthorizationRequest& req);
  // RequestAuthorization's steps, in order. All require !mu_.
  // A decision entry for a request (its workload path cleared: only the
  // governor binds one).
  absl::StatusOr<std::shared_ptr<Entry>> NewEntry(const std::string& actor,
                                                  const v1::WorkloadBinding& binding,
                                                  const std::string& workload,
                                                  const std::string& action,
                                                  const v1::Target& target,
                                                  const std::string& policy_hex);
  // The fields every record of a requested decision starts with: the
  // request's, `event: attested` when a node attested it, and its annotations.
  static ledger::Fields EntryFields(const Entry& e);
  // Appends DENIED for `e` (reason_code `code`) and counts it.
  absl::Status RecordDenial(const Entry& e, const std::string& code, const std::string& why,
                            ledger::Fields extra);
  // Evaluates `policy` on the validated request (selector inputs `workload`)
  // and fills e.decision's rule, reason, policy and intent hash.
  static policies::Decision Evaluate(const policies::Policy& policy, Entry& e,
                                     const v1::AuthorizationRequest& req,
                                     policies::WorkloadAttributes workload,
                                     const policies::TargetRef& target);
  // The three outcomes: each records and remembers the decision.
  absl::StatusOr<v1::Decision> Deny(std::shared_ptr<Entry> e, const policies::Decision& pd,
                                    const std::string& reason_field);
  // Takes the reason itself: its summary also goes to the notifier.
  absl::StatusOr<v1::Decision> AwaitApprovals(std::shared_ptr<Entry> e,
                                              const policies::Decision& pd,
                                              const policies::ReasonRecord& reason);
  absl::StatusOr<v1::Decision> Permit(std::shared_ptr<Entry> e, const policies::Decision& pd,
                                      const std::string& reason_field);
  // Appends ISSUED and signs the TAO into entry->decision. Requires !mu_.
  absl::Status Issue(Entry& e, std::chrono::seconds ttl, ledger::Fields extra);
  absl::StatusOr<uint64_t> Append(ledger::RecordKind kind, ledger::Fields fields);
  void ExpireLocked(Entry& e, int64_t now);  // requires mu_
  // Replicas: adds the broadcasts other replicas (or this one) recorded in
  // PostgreSQL after kill_seq_ to kill_log_, in order. Requires !mu_.
  absl::Status MergeKillSwitch();
  // Replicas: makes the latest bundle activated on any replica active here
  // (no record: the activating replica wrote it; with `startup_actor`, a
  // POLICY_ACTIVATED record says this replica started with it). Returns
  // false when there is none. Requires !mu_, !activate_mu_.
  absl::StatusOr<bool> MergePolicy(const std::string& startup_actor = "");
  // Replicas: a decision's state as stored in PostgreSQL, and back.
  static std::string EncodeShared(const Entry& e);
  static absl::Status DecodeShared(const std::string& text, Entry& e);
  // Makes `fresh` (read from PostgreSQL) this replica's copy of its decision
  // unless the copy is newer; returns the copy. Requires !mu_.
  std::shared_ptr<Entry> Adopt(Entry fresh);
  // Re-reads decisions from PostgreSQL into the copies this replica holds.
  void RefreshShared(const std::vector<std::string>& ids);
  // Swaps in a loaded bundle; requires activate_mu_.
  void Install(std::shared_ptr<const policies::Policy> np, const std::string& yaml);
  std::shared_ptr<Entry> Find(const std::string& id);
  void Remember(std::shared_ptr<Entry> e);
  v1::Decision View(const Entry& e, const std::string& actor) const;  // requires mu_

  GovernorOptions options_;
  GovernorKeys* keys_;
  std::unique_ptr<ledger::Log> ledger_;
  std::unique_ptr<policies::RateLimiter> limiter_;

  mutable std::mutex policy_mu_;  // guards policy_, policy_yaml_
  std::shared_ptr<const policies::Policy> policy_;
  std::string policy_yaml_;
  std::mutex activate_mu_;  // serialises activations and kill-switch broadcasts

  mutable std::mutex mu_;
  std::condition_variable cv_;  // decisions, policy version, kill switch, shutdown
  std::map<std::string, std::shared_ptr<Entry>> decisions_;
  std::deque<std::string> order_;
  std::map<std::string, int64_t> seen_nonces_;  // nonce hex -> expiry ms
  std::vector<v1::GovernorKillSwitchRequest> kill_log_;
  uint64_t kill_seq_ = 0;
  // With ledger_postgres: the state every replica shares (kill-switch
  // broadcasts, the active policy), and the thread that follows it
  // (LISTEN/NOTIFY, and a poll each second).
  std::unique_ptr<internal::PgSharedState> shared_;
  std::mutex kill_merge_mu_;  // one merge at a time
  uint64_t policy_seq_ = 0;   // the shared activation active here; activate_mu_
  std::thread shared_watch_;
  size_t refresh_cursor_ = 0;  // the watch thread's; mu_
  uint64_t policy_version_ = 0;
  bool shutdown_ = false;
  Stats stats_;
  mutable std::mutex append_mu_;
  absl::Status last_append_;      // guarded by append_mu_
  uint64_t append_failures_ = 0;  // guarded by append_mu_
  std::array<runtime::Histogram, 4> latency_;  // permit, deny, pending_approval, error
};

}  // namespace taogate::governance
