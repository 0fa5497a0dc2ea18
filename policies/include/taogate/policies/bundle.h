// The policy bundle's data model: what a validated YAML bundle says, with every
// cross-reference resolved to an index into the owning vector. Produced only by
// the loader (loader.h), which guarantees the invariants stated per field; the
// compiled Policy (policy.h) owns one immutable Bundle. Plain data: safe to read
// from many threads once built. Schema: policies/SCHEMA.md.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "taogate/k8s/selector.h"
#include "taogate/policies/policy_format.h"

namespace taogate::policies {

using Index = uint32_t;

struct RoleDef {
  std::string id;
  std::string description;
};

using Ed25519PublicKey = std::array<uint8_t, 32>;

// A WebAuthn credential (passkey, security key) an approver signs approvals
// with in the console (docs/approvals.md); enrolled with
// `taogatectl approvers enroll`, which prints this entry.
struct WebAuthnCredential {
  std::string id;          // raw credential id bytes (1..1023); unique in the bundle
  std::string public_key;  // SubjectPublicKeyInfo DER of an EC P-256 key (ES256)
};

struct ActorDef {
  std::string identity;             // e.g. spiffe://example.org/ns/x/sa/y; unique
  std::vector<Index> roles;         // into Bundle::roles, sorted, unique
  std::vector<Ed25519PublicKey> approver_keys;  // keys this actor signs approvals with
  std::vector<WebAuthnCredential> webauthn_credentials;
  // Whether the actor can sign an approval at all (CLI key or WebAuthn).
  bool approver() const { return !approver_keys.empty() || !webauthn_credentials.empty(); }
};

// Every selector present must match (AND); within one selector any listed value
// matches (OR). At least one selector is present.
struct WorkloadDef {
  std::string id;
  std::vector<std::string> nodes;         // node ids
  std::vector<std::string> cgroup_paths;  // match the path or a descendant
  std::map<std::string, std::string> pod_labels;  // all must be equal
  // Attested-only selectors (each: any of the list); a request without
  // attested facts (WorkloadAttributes::attested) never matches them.
  std::vector<std::string> namespaces;        // DNS-1123 labels
  std::vector<std::string> service_accounts;  // "namespace/name"
  std::vector<std::string> exe_paths;         // absolute canonical paths
  std::vector<std::string> exe_sha256;        // 64 lowercase hex digits
  // `mode: audit` (docs/audit-mode.md): agents let every connect of the
  // matching workload cgroups through and report what enforce mode would
  // have refused (WOULD_DENY). Whole cgroups only: never with exe selectors.
  bool audit = false;

  bool AttestedOnly() const {
    return !namespaces.empty() || !service_accounts.empty() || !exe_paths.empty() ||
           !exe_sha256.empty();
  }
};

// One CIDR x port range x protocol set. v4 addresses use addr[0..3].
struct NetRange {
  uint8_t family = 4;  // 4 or 6
  std::array<uint8_t, 16> addr{};  // network address, host bits zero
  uint8_t prefix_len = 0;
  uint16_t port_lo = 0;
  uint16_t port_hi = 0;
  bool tcp = false;
  bool udp = false;
  // From the keyword `node` in `cidrs`: every address of the node a TAO is
  // bound to. The loader makes two ranges, 127.0.0.0/8 and ::1/128 (what the
  // governor can match without knowing a node's addresses), both with
  // node = true; exports name them once, as "node" (see targets.h).
  bool node = false;
};

// One DNS name x port range x protocol set (`hosts` in a network entry;
// docs/names.md). The name is canonical (target::ParseHostName). It matches
// a request naming exactly that name, never an IP: the governor does not
// resolve.
struct NameRange {
  std::string host;
  uint16_t port_lo = 0;
  uint16_t port_hi = 0;
  bool tcp = false;
  bool udp = false;
};

struct TargetDef {
  std::string id;
  std::string description;
  std::vector<NetRange> networks;       // cartesian product of cidrs x ports
  std::vector<NameRange> names;         // cartesian product of hosts x ports
  std::vector<std::string> unix_paths;  // exact socket paths
  std::vector<std::string> file_paths;  // exact, or a directory prefix if it ends in '/'
  std::vector<std::string> binaries;    // exact executable paths
  // `mode: audit` (docs/audit-mode.md): agents let through what the gate
  // would deny and report it (WOULD_DENY). The governor decides as usual.
  bool audit = false;
};

struct ActionClassDef {
  std::string id;
  std::string description;
  uint32_t ttl_seconds = 0;  // 1..kMaxTtlSeconds
};

// Approvals: `count` distinct actors, none of them the requester, each holding
// at least one of `roles` and signing with one of their approver_keys.
struct ApprovalRequirement {
  std::vector<Index> roles;  // into Bundle::roles
  uint32_t count = 1;
};

enum class RuleEffect : uint8_t { kAllow, kDeny, kRequireApproval };

// A set of indices or "any" (written "*" in YAML).
struct Selection {
  bool any = false;
  std::vector<Index> items;  // sorted, unique; empty if any
};

struct RuleDef {
  std::string id;
  std::string description;
  RuleEffect effect = RuleEffect::kDeny;
  Selection actors;          // into Bundle::actors
  std::vector<Index> roles;  // into Bundle::roles; subject = actors OR roles
  Selection workloads;
  Selection actions;
  Selection targets;
  std::optional<uint32_t> ttl_seconds;           // shortens the action TTL
  std::optional<ApprovalRequirement> approval;   // set iff kRequireApproval
};

struct RateLimit {
  double tokens_per_second = 0;  // > 0
  uint32_t burst = 1;            // >= 1
};

struct RateLimitConfig {
  std::optional<RateLimit> default_limit;     // absent: unlimited unless listed
  std::map<std::string, RateLimit> per_actor;  // identity -> limit
};

struct BreakGlassScope {
  std::string id;
  std::vector<Index> roles;      // non-empty
  Selection workloads;
  std::vector<Index> actions;    // non-empty, never "any"
  std::vector<Index> targets;    // non-empty, never "any"
  uint32_t max_ttl_seconds = 0;  // 1..kMaxBreakGlassTtlSeconds
};

// A hold rule (`hold:`, docs/hold.md): a governed process of `workloads`
// connecting to `targets` without a grant is held while its node's agent
// runs Acquire for `action` on its behalf, for at most max_hold_ms. The
// loader guarantees that referenced targets are network or unix targets (a
// file or exec target cannot be held).
struct HoldRuleDef {
  std::string id;
  std::string description;
  Selection workloads;
  Selection targets;
  Index action = 0;  // into Bundle::action_classes
  uint32_t max_hold_ms = 30'000;
};

struct Bundle {
  uint32_t version = kBundleVersion;
  std::string name;
  std::string description;
  std::vector<RoleDef> roles;
  std::vector<ActorDef> actors;
  std::vector<WorkloadDef> workloads;
  std::vector<TargetDef> targets;
  std::vector<ActionClassDef> action_classes;
  std::vector<RuleDef> rules;  // declaration order
  RateLimitConfig rate_limits;
  std::vector<BreakGlassScope> break_glass;
  // Which Kubernetes pods are workloads (`governed_pods`): a pod is governed
  // iff any entry Governs() it. Both selectors of every entry are set (never
  // LabelSelector::Nothing()); empty when the key is absent or `[]`. Agents
  // receive them as ProtectedTargets.governed_pods (k8s/selector_proto.h).
  std::vector<k8s::PodSelector> governed_pods;
  std::vector<HoldRuleDef> hold;  // declaration order; first match wins
};

}  // namespace taogate::policies
