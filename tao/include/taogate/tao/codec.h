// Strict TAO decoding and validation.
//
// Everything here takes untrusted bytes and returns InvalidArgument with a
// one-line reason for anything malformed; nothing here aborts or throws.
// Decoding does not check signatures (see signing.h) or the time window
// against a clock (CheckTimeWindow).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "taogate/common/path.h"
#include "tao.pb.h"

namespace taogate::tao {

inline constexpr uint32_t kTaoVersion = 1;
inline constexpr size_t kMaxTaoBytes = 16 * 1024;
// Above the sum of every field's limit: any body that validates fits.
inline constexpr size_t kMaxBodyBytes = 4 * 1024;
inline constexpr size_t kMaxCertificateBytes = 4 * 1024;
inline constexpr size_t kIdBytes = 16;
inline constexpr size_t kNonceBytes = 16;
inline constexpr size_t kKeyIdBytes = 32;
inline constexpr size_t kMaxActorBytes = 256;
inline constexpr size_t kMaxNodeIdBytes = 253;
inline constexpr size_t kPodUidBytes = 36;  // canonical UUID text
inline constexpr size_t kMaxActionClassBytes = 64;
inline constexpr size_t kMaxPathBytes = 1024;
// A TAO is short-lived by construction: no window longer than this validates.
inline constexpr int64_t kMaxLifetimeMs = 60 * 60 * 1000;
// Unknown fields numbered in [kFirstNonCritical, kLastNonCritical] may be ignored.
inline constexpr int kFirstNonCritical = 1000;
inline constexpr int kLastNonCritical = 1999;

// Parses the outer Tao envelope and its body; validates both.
absl::StatusOr<v1::Tao> DecodeTao(std::span<const uint8_t> wire);
inline absl::StatusOr<v1::Tao> DecodeTao(std::string_view wire) {
  return DecodeTao({reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
}

// Parses and validates carried body bytes.
absl::StatusOr<v1::TaoBody> DecodeBody(std::string_view body_bytes);

// Structural validation of a body (sizes, window, binding, target).
absl::Status ValidateBody(const v1::TaoBody& body);

// A Kubernetes pod UID in canonical form: lowercase 8-4-4-4-12 hex. Anything
// shorter or looser could be a fragment of an unrelated cgroup name. (The
// rule lives in common/path.h, shared with the kubelet cgroup parser.)
using taogate::IsCanonicalPodUid;

// A cgroup v2 path as the kernel reports it: "/" or absolute with non-empty
// components, none "." or "..", no trailing '/', no control characters, at
// most kMaxPathBytes.
bool IsCanonicalCgroupPath(std::string_view path);

// Validates then serializes deterministically: the bytes an issuer signs.
absl::StatusOr<std::string> EncodeBody(const v1::TaoBody& body);

// FailedPrecondition "expired" / "not yet valid" against `now_ms`, allowing
// `skew_ms` of clock difference on either side.
absl::Status CheckTimeWindow(const v1::TaoBody& body, int64_t now_ms, int64_t skew_ms);

}  // namespace taogate::tao
