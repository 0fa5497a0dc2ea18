// A compiled, immutable policy: the bundle plus the indexes Evaluate needs.
// Build one with Policy::Load (parse + validate + compile) and share it as
// std::shared_ptr<const Policy>; activation of a new bundle is the governor
// swapping that pointer. Every const method is safe from many threads at once
// and never blocks.
//
// Decision semantics (fail closed):
//   1. an unknown actor, an unparsable or ungoverned target, or an unknown
//      action class is DENY;
//   2. among the rules that match (subject, workload, action, target), any
//      `deny` wins; otherwise any `require_approval` wins; otherwise the first
//      `allow` in declaration order gives PERMIT; no match at all is DENY.
//      A deny matches if the target lies in any of its targets; a grant only
//      if every protected target containing the address/path is listed
//      (a grant opens the address for all of them).
//   3. TTL = min(action class TTL, rule TTL).
// Full rules: policies/SCHEMA.md ("Evaluation").
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/policies/bundle.h"
#include "taogate/policies/loader.h"
#include "taogate/policies/targets.h"

namespace taogate::policies {

enum class Effect : uint8_t { kPermit, kDeny, kRequireApproval };
std::string_view EffectName(Effect e);  // "PERMIT", "DENY", "REQUIRE_APPROVAL"

// Where the request comes from; the governor fills it from the verified
// binding (node id, cgroup path) or, for a request a node agent attested,
// from the attestation (docs/governor.md, "Node attestation: trust rules").
struct WorkloadAttributes {
  std::string node;
  std::string cgroup_path;
  std::map<std::string, std::string> pod_labels;
  // True only when a node agent attested the facts below; selectors on them
  // (namespaces, service_accounts, exe_paths, exe_sha256) match nothing else.
  bool attested = false;
  std::string k8s_namespace;    // Kubernetes only
  std::string service_account;  // its name, in k8s_namespace
  std::string exe_path;
  std::string exe_sha256;       // lowercase hex
};

struct Request {
  std::string actor;  // verified identity (client certificate URI SAN)
  WorkloadAttributes workload;
  std::string action;  // action class id
  TargetRef target;
};

struct ApprovalSpec {
  std::vector<std::string> roles;  // role ids, any of which qualifies
  uint32_t count = 1;              // distinct approvers, requester excluded
};

struct Decision {
  Effect effect = Effect::kDeny;
  std::string rule_id;  // empty when no rule matched (default deny)
  std::string reason;   // one line, for humans and the ledger
  std::chrono::seconds ttl{0};  // 0 unless PERMIT or REQUIRE_APPROVAL
  std::optional<ApprovalSpec> approval;  // set iff REQUIRE_APPROVAL
  BundleHash bundle_sha256{};
};

struct BreakGlassRequest {
  std::string actor;
  WorkloadAttributes workload;
  std::string action;
  TargetRef target;
  std::chrono::seconds ttl{0};  // requested; 0 means the scope's max
};

struct BreakGlassGrant {
  std::string scope_id;
  std::chrono::seconds ttl{0};
  BundleHash bundle_sha256{};
};

class Policy {
 public:
  static absl::StatusOr<std::shared_ptr<const Policy>> Load(
      std::string_view bytes, std::string_view file_name,
      std::vector<ValidationError>* errors = nullptr);
  static absl::StatusOr<std::shared_ptr<const Policy>> LoadFile(
      const std::string& path, std::vector<ValidationError>* errors = nullptr);

  ~Policy();
  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

  const Bundle& bundle() const;
  const BundleHash& hash() const;
  std::string HashHex() const;

  Decision Evaluate(const Request& request) const;

  // PermissionDenied (with the reason) unless the actor holds a role of some
  // scope that covers workload, action and target and the TTL is within the
  // scope's max. The first covering scope in declaration order is returned.
  // Reason hygiene is the caller's (see reason.h); explicit deny rules do not
  // apply: break-glass exists to pass them, and is always reviewed.
  absl::StatusOr<BreakGlassGrant> CheckBreakGlass(const BreakGlassRequest& request) const;

  // OkStatus iff `signature` over `message` verifies under one of the
  // approver_keys of actor `approver` (Unauthenticated otherwise; NotFound for
  // an actor without keys).
  absl::Status VerifyApproverSignature(std::string_view approver,
                                       std::span<const uint8_t> message,
                                       std::span<const uint8_t> signature) const;

  // OkStatus iff `approvers` (identities whose signatures the caller has
  // verified) hold `spec.count` distinct actors with a qualifying role, none
  // equal to `requester`. FailedPrecondition says what is missing.
  absl::Status CheckApprovals(const ApprovalSpec& spec, std::string_view requester,
                              std::span<const std::string> approvers) const;

  // The part agents compile into their BPF maps.
  ProtectedTargetSet ProtectedTargets() const;

  const RateLimitConfig& rate_limits() const;

 // Opaque compiled indexes (policies/src/compiled.h).
  struct Compiled;
  explicit Policy(std::unique_ptr<Compiled> c);

 private:
  std::unique_ptr<Compiled> c_;
};

}  // namespace taogate::policies
