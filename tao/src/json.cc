#include "taogate/tao/json.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"

namespace taogate::tao {
namespace {

std::string Rfc3339(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

const char* ProtoName(v1::TargetProto p) {
  switch (p) {
    case v1::TARGET_PROTO_TCP: return "tcp";
    case v1::TARGET_PROTO_UDP: return "udp";
    case v1::TARGET_PROTO_UNIX: return "unix";
    case v1::TARGET_PROTO_FILE: return "file";
    case v1::TARGET_PROTO_EXEC: return "exec";
    default: return "unspecified";
  }
}

nlohmann::ordered_json BodyJson(const v1::TaoBody& b) {
  nlohmann::ordered_json j;
  j["version"] = b.version();
  j["id"] = ToHex(b.id());
  j["nonce"] = ToHex(b.nonce());
  j["issuer_key_id"] = ToHex(b.issuer_key_id());
  j["actor"] = b.actor();
  j["binding"] = {{"node_id", b.binding().node_id()},
                  {"cgroup_id", b.binding().cgroup_id()},
                  {"pod_uid", b.binding().pod_uid()},
                  {"workload_path", b.binding().workload_path()}};
  j["action_class"] = b.action_class();
  nlohmann::ordered_json t;
  t["proto"] = ProtoName(b.target().proto());
  if (!b.target().address().empty()) t["address"] = b.target().address();
  if (b.target().port() != 0) t["port"] = b.target().port();
  if (!b.target().path().empty()) t["path"] = b.target().path();
  j["target"] = t;
  j["max_uses"] = b.max_uses();
  j["not_before_ms"] = b.not_before_ms();
  j["not_before"] = Rfc3339(b.not_before_ms());
  j["expires_at_ms"] = b.expires_at_ms();
  j["expires_at"] = Rfc3339(b.expires_at_ms());
  j["policy_bundle_sha256"] = ToHex(b.policy_bundle_sha256());
  j["decision_ledger_index"] = b.decision_ledger_index();
  return j;
}

}  // namespace

std::string BodyToJson(const v1::TaoBody& body) { return BodyJson(body).dump(2); }

std::string TaoToJson(const v1::Tao& tao, const v1::TaoBody& body) {
  nlohmann::ordered_json j;
  j["body"] = BodyJson(body);
  j["body_sha256"] = ToHex(crypto::Sha256(tao.body()));
  j["signature"] = ToHex(tao.signature());
  j["issuer_certificate_bytes"] = tao.issuer_certificate().size();
  return j.dump(2);
}

}  // namespace taogate::tao
