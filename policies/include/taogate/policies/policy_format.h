// The policy bundle's on-disk format and its address, stated once.
//
// File: UTF-8 YAML 1.2 (the subset yaml-cpp 0.7 reads), one mapping at top
// level, schema in policies/SCHEMA.md. Unknown keys, duplicate keys, anchors
// used as merge keys (<<) and anything outside the schema are refused.
//
// Address (the "bundle hash"):
//   bundle_sha256 = SHA-256(file bytes exactly as read, no normalisation)
// i.e. byte 0 of the input through its last byte, including comments, BOM,
// whitespace and line endings. Anyone can recompute it with `sha256sum FILE`;
// TAOs carry these 32 bytes raw in TaoBody.policy_bundle_sha256, logs and the
// CLI print them as 64 lower-case hex digits. We hash the exact bytes rather
// than a canonical form because a canonicaliser is code that auditors would
// have to trust and re-implement; the price is that a comment edit is a new
// bundle, which we consider correct (what was approved is what was hashed).
//
// Limits enforced by the loader (a bundle beyond them is refused):
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace taogate::policies {

using BundleHash = std::array<uint8_t, 32>;

inline constexpr uint32_t kBundleVersion = 1;
inline constexpr size_t kMaxBundleBytes = 16 * 1024 * 1024;
inline constexpr size_t kMaxIdLength = 128;        // role/workload/target/action/rule ids
inline constexpr size_t kMaxIdentityLength = 512;  // actor identities
inline constexpr size_t kMaxPathLength = 4095;     // unix/file/binary/cgroup paths
inline constexpr uint32_t kMaxTtlSeconds = 3600;   // action class and rule TTLs
inline constexpr uint32_t kMaxBreakGlassTtlSeconds = 3600;
inline constexpr uint32_t kMaxHoldSeconds = 3600;  // a hold rule's max_hold
inline constexpr size_t kMaxHoldRules = 1024;
inline constexpr uint32_t kMaxApprovalCount = 16;
inline constexpr size_t kMaxRules = 100000;

}  // namespace taogate::policies
