#include "taogate/tao/codec.h"


#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>

#include "taogate/common/path.h"
#include "taogate/common/strings.h"
#include "taogate/common/status.h"
#include "taogate/target/target.h"

namespace taogate::tao {
namespace {

using absl::InvalidArgumentError;


absl::Status RejectCriticalUnknown(const google::protobuf::Message& msg, std::string_view where) {
  const auto& unknown = msg.GetReflection()->GetUnknownFields(msg);
  for (int i = 0; i < unknown.field_count(); ++i) {
    int number = unknown.field(i).number();
    if (number < kFirstNonCritical || number > kLastNonCritical)
      return InvalidArgumentError(StrCat(where, ": unknown critical field ", number));
  }
  return absl::OkStatus();
}

bool HasControlChars(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

absl::Status CheckText(std::string_view field, std::string_view value, size_t max, bool required) {
  if (required && value.empty()) return InvalidArgumentError(StrCat(field, " is missing"));
  if (value.size() > max)
    return InvalidArgumentError(StrCat(field, " is ", value.size(), " bytes, limit ", max));
  if (HasControlChars(value)) return InvalidArgumentError(StrCat(field, " has control characters"));
  return absl::OkStatus();
}

absl::Status CheckBytes(std::string_view field, const std::string& value, size_t want) {
  if (value.size() != want)
    return InvalidArgumentError(StrCat(field, " must be ", want, " bytes, got ", value.size()));
  return absl::OkStatus();
}

absl::Status ValidateBinding(const v1::TaoBody& body) {
  if (!body.has_binding()) return InvalidArgumentError("workload binding is missing");
  const auto& b = body.binding();
  TG_RETURN_IF_ERROR(RejectCriticalUnknown(b, "binding"));
  TG_RETURN_IF_ERROR(CheckText("binding.node_id", b.node_id(), kMaxNodeIdBytes, true));
  if (!b.pod_uid().empty() && !IsCanonicalPodUid(b.pod_uid()))
    return InvalidArgumentError(
        "binding.pod_uid is not a canonical pod UID (lowercase 8-4-4-4-12 hex)");
  if (b.cgroup_id() == 0 && b.pod_uid().empty())
    return InvalidArgumentError("binding names neither a cgroup id nor a pod uid");
  // Optional here so that old TAOs still decode for inspection; agents refuse
  // a TAO without it (agent/src/redeem.cc).
  if (!b.workload_path().empty() && !IsCanonicalCgroupPath(b.workload_path()))
    return InvalidArgumentError(
        StrCat("binding.workload_path is not an absolute canonical cgroup path (at most ",
               kMaxPathBytes, " bytes)"));
  return absl::OkStatus();
}

absl::Status ValidateTarget(const v1::TaoBody& body) {
  if (!body.has_target()) return InvalidArgumentError("target is missing");
  const auto& t = body.target();
  TG_RETURN_IF_ERROR(RejectCriticalUnknown(t, "target"));
  switch (t.proto()) {
    case v1::TARGET_PROTO_TCP:
    case v1::TARGET_PROTO_UDP:
      // A DNS name (docs/names.md) only in canonical form: the signature
      // covers exactly the name the policy matched.
      if (!target::ParseIp(t.address()).ok() && !target::CheckCanonicalHostName(t.address()).ok())
        return InvalidArgumentError("target.address is not an IPv4 or IPv6 literal or a canonical DNS name");
      if (t.port() == 0 || t.port() > 65535)
        return InvalidArgumentError(StrCat("target.port ", t.port(), " is outside 1-65535"));
      if (!t.path().empty()) return InvalidArgumentError("target.path is set for an inet target");
      return absl::OkStatus();
    case v1::TARGET_PROTO_UNIX:
    case v1::TARGET_PROTO_FILE:
    case v1::TARGET_PROTO_EXEC:
      TG_RETURN_IF_ERROR(CheckText("target.path", t.path(), kMaxPathBytes, true));
      if (t.path().front() != '/') return InvalidArgumentError("target.path is not absolute");
      if (!t.address().empty() || t.port() != 0)
        return InvalidArgumentError("target.address/port set for a path target");
      return absl::OkStatus();
    default:
      return InvalidArgumentError(StrCat("target.proto ", static_cast<int>(t.proto()),
                                         " is unspecified or unknown"));
  }
}

}  // namespace

bool IsCanonicalCgroupPath(std::string_view path) {
  if (path.empty() || path.size() > kMaxPathBytes || path.front() != '/' || HasControlChars(path))
    return false;
  if (path == "/") return true;
  return CanonicalComponents(path.substr(1));
}

absl::Status ValidateBody(const v1::TaoBody& body) {
  TG_RETURN_IF_ERROR(RejectCriticalUnknown(body, "body"));
  if (body.version() != kTaoVersion)
    return InvalidArgumentError(StrCat("unsupported TAO version ", body.version()));
  TG_RETURN_IF_ERROR(CheckBytes("id", body.id(), kIdBytes));
  TG_RETURN_IF_ERROR(CheckBytes("nonce", body.nonce(), kNonceBytes));
  TG_RETURN_IF_ERROR(CheckBytes("issuer_key_id", body.issuer_key_id(), kKeyIdBytes));
  TG_RETURN_IF_ERROR(CheckText("actor", body.actor(), kMaxActorBytes, true));
  TG_RETURN_IF_ERROR(ValidateBinding(body));
  TG_RETURN_IF_ERROR(CheckText("action_class", body.action_class(), kMaxActionClassBytes, true));
  TG_RETURN_IF_ERROR(ValidateTarget(body));
  if (body.max_uses() != 1)
    return InvalidArgumentError(StrCat("max_uses must be 1, got ", body.max_uses()));
  if (body.not_before_ms() <= 0) return InvalidArgumentError("not_before is missing or negative");
  if (body.expires_at_ms() <= body.not_before_ms())
    return InvalidArgumentError("validity window is empty or negative (expires_at <= not_before)");
  if (body.expires_at_ms() - body.not_before_ms() > kMaxLifetimeMs)
    return InvalidArgumentError(StrCat("validity window exceeds ", kMaxLifetimeMs, " ms"));
  TG_RETURN_IF_ERROR(CheckBytes("policy_bundle_sha256", body.policy_bundle_sha256(), 32));
  return absl::OkStatus();
}

absl::StatusOr<v1::TaoBody> DecodeBody(std::string_view body_bytes) {
  if (body_bytes.empty()) return InvalidArgumentError("TAO body is empty");
  if (body_bytes.size() > kMaxBodyBytes)
    return InvalidArgumentError(
        StrCat("TAO body is ", body_bytes.size(), " bytes, limit ", kMaxBodyBytes));
  v1::TaoBody body;
  if (!body.ParseFromArray(body_bytes.data(), static_cast<int>(body_bytes.size())))
    return InvalidArgumentError("TAO body is not a valid TaoBody encoding");
  TG_RETURN_IF_ERROR(ValidateBody(body));
  return body;
}

absl::StatusOr<v1::Tao> DecodeTao(std::span<const uint8_t> wire) {
  if (wire.empty()) return InvalidArgumentError("TAO is empty");
  if (wire.size() > kMaxTaoBytes)
    return InvalidArgumentError(StrCat("TAO is ", wire.size(), " bytes, limit ", kMaxTaoBytes));
  v1::Tao tao;
  if (!tao.ParseFromArray(wire.data(), static_cast<int>(wire.size())))
    return InvalidArgumentError("TAO is not a valid Tao encoding");
  TG_RETURN_IF_ERROR(RejectCriticalUnknown(tao, "tao"));
  if (tao.signature().size() != 64)
    return InvalidArgumentError(StrCat("signature must be 64 bytes, got ", tao.signature().size()));
  if (tao.issuer_certificate().empty()) return InvalidArgumentError("issuer certificate is missing");
  if (tao.issuer_certificate().size() > kMaxCertificateBytes)
    return InvalidArgumentError("issuer certificate is too large");
  TG_RETURN_IF_ERROR(DecodeBody(tao.body()).status());
  return tao;
}

absl::StatusOr<std::string> EncodeBody(const v1::TaoBody& body) {
  TG_RETURN_IF_ERROR(ValidateBody(body));
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    if (!body.SerializeToCodedStream(&cos) || cos.HadError())
      return absl::InternalError("TaoBody serialization failed");
  }  // the stream flushes into `out` when it goes out of scope
  // Never sign what no verifier would decode.
  if (out.size() > kMaxBodyBytes)
    return InvalidArgumentError(StrCat("TAO body is ", out.size(), " bytes, limit ", kMaxBodyBytes));
  return out;
}

absl::Status CheckTimeWindow(const v1::TaoBody& body, int64_t now_ms, int64_t skew_ms) {
  if (now_ms + skew_ms < body.not_before_ms())
    return absl::FailedPreconditionError(
        StrCat("TAO not yet valid: starts in ", body.not_before_ms() - now_ms, " ms"));
  if (now_ms - skew_ms >= body.expires_at_ms())
    return absl::FailedPreconditionError(
        StrCat("TAO expired ", now_ms - body.expires_at_ms(), " ms ago"));
  return absl::OkStatus();
}

}  // namespace taogate::tao
