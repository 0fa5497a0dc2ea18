#include "taogate/evidence/ocsf.h"

#include "taogate/common/strings.h"
#include "taogate/common/version.h"
#include "taogate/ledger/base64.h"
#include "taogate/target/target.h"

namespace taogate::evidence {
namespace {

using ledger::RecordKind;

enum Severity { kInformational = 1, kLow = 2, kMedium = 3, kHigh = 4, kCritical = 5 };
constexpr std::string_view kSeverityNames[] = {"Unknown", "Informational", "Low", "Medium", "High", "Critical"};

struct Class {
  int uid;
  std::string_view name;
  int category_uid;
  std::string_view category_name;
};
constexpr Class kAuthorize{3003, "Authorize Session", 3, "Identity & Access Management"};
constexpr Class kNetwork{4001, "Network Activity", 4, "Network Activity"};
constexpr Class kConfig{5019, "Device Config State Change", 5, "Discovery"};

std::string FieldOr(const ledger::Record& r, std::string_view name, std::string_view dflt = "") {
  return std::string(r.Field(name).value_or(dflt));
}

// A DENIED record is the node's (a kernel denial summary) unless it carries
// the governor's decision_id.
bool IsNodeDenial(const ledger::Record& r) { return r.kind == RecordKind::kDenied && !r.Field("decision_id"); }

// dst_endpoint and connection_info from "tcp:10.0.0.5:5432",
// "tcp:db.example.org:5432", "unix:/run/x.sock", "file:/etc/x"...
void AddEndpoint(Json& e, std::string_view text) {
  if (text.empty()) return;
  auto t = target::Parse(text, target::Form::kDestination);
  if (!t.ok()) t = target::Parse(text, target::Form::kProtected);
  Json dst = Json::object();
  if (!t.ok()) {
    dst["name"] = std::string(text);
  } else if (t->proto == target::Proto::kTcp || t->proto == target::Proto::kUdp ||
             t->proto == target::Proto::kAny) {
    if (t->host == target::Host::kName) dst["hostname"] = t->name;
    else if (t->host == target::Host::kPrefix) dst["ip"] = target::FormatIp(t->prefix.ip);
    else dst["name"] = "node";
    if (t->port_lo != 0 && t->port_lo == t->port_hi) dst["port"] = t->port_lo;
    std::string_view proto = target::ProtoName(t->proto);
    e["connection_info"] = Json{{"protocol_name", std::string(proto)},
                                {"protocol_num", proto == "tcp" ? 6 : proto == "udp" ? 17 : 0}};
    if (t->host == target::Host::kPrefix)
      e["connection_info"]["protocol_ver_id"] = t->prefix.ip.family == 6 ? 6 : 4;
  } else {
    dst["name"] = t->path;
    dst["type"] = std::string(target::ProtoName(t->proto));
  }
  e["dst_endpoint"] = dst;
}

// class, activity (id, name), status (1 success, 2 failure), severity.
struct Mapping {
  Class cls;
  int activity_id;
  std::string activity_name;
  int status_id;
  Severity severity;
};

Mapping Map(const ledger::Record& r) {
  const std::string kind = ledger::KindName(r.kind);
  switch (r.kind) {
    case RecordKind::kIssued: return {kAuthorize, 1, "Assign Privileges", 1, kInformational};
    case RecordKind::kApprovalRequested: return {kAuthorize, 99, kind, 0, kInformational};
    case RecordKind::kApproval:
      return {kAuthorize, 99, kind, FieldOr(r, "verdict") == "approve" ? 1 : 2, kLow};
    case RecordKind::kBreakGlass: return {kAuthorize, 1, "Assign Privileges", 1, kHigh};
    case RecordKind::kExpired: return {kAuthorize, 99, kind, 0, kInformational};
    case RecordKind::kDenied:
      if (IsNodeDenial(r)) return {kNetwork, 5, "Refuse", 2, kMedium};
      return {kAuthorize, 1, "Assign Privileges", 2, kMedium};
    case RecordKind::kConsumed: return {kNetwork, 99, "Grant Installed", 1, kInformational};
    case RecordKind::kExercised: return {kNetwork, 1, "Open", 1, kInformational};
    case RecordKind::kWouldDeny: return {kNetwork, 99, kind, 1, kLow};  // audit mode: let through
    case RecordKind::kRejected: return {kNetwork, 5, "Refuse", 2, kMedium};
    case RecordKind::kHold:  // a held connect: continued into the gate, or refused
      return FieldOr(r, "verdict") == "CONTINUE" ? Mapping{kNetwork, 99, "Held", 1, kInformational}
                                                 : Mapping{kNetwork, 5, "Refuse", 2, kMedium};
    case RecordKind::kKillSwitch: return {kConfig, 99, kind, 1, kHigh};
    case RecordKind::kLossAccepted: return {kConfig, 99, kind, 1, kCritical};
    case RecordKind::kReloaded:  // a refused reload: the daemon still serves the old material
      return FieldOr(r, "verdict") == "ok" ? Mapping{kConfig, 99, kind, 1, kLow}
                                           : Mapping{kConfig, 99, kind, 2, kMedium};
    default: return {kConfig, 99, kind, 1, kInformational};
  }
}

}  // namespace

Json OcsfEvent(const ledger::Record& r, std::string_view origin) {
  const Mapping m = Map(r);
  const std::string kind = ledger::KindName(r.kind);
  Json e = Json::object();
  e["class_uid"] = m.cls.uid;
  e["class_name"] = std::string(m.cls.name);
  e["category_uid"] = m.cls.category_uid;
  e["category_name"] = std::string(m.cls.category_name);
  e["activity_id"] = m.activity_id;
  e["activity_name"] = m.activity_name;
  e["type_uid"] = m.cls.uid * 100 + m.activity_id;
  e["time"] = r.time_ns / 1'000'000;
  e["severity_id"] = static_cast<int>(m.severity);
  e["severity"] = std::string(kSeverityNames[m.severity]);
  e["status_id"] = m.status_id;
  e["status"] = m.status_id == 1 ? "Success" : m.status_id == 2 ? "Failure" : "Unknown";
  for (const char* detail : {"reason_code", "reason", "verdict", "error"})
    if (auto v = r.Field(detail)) {
      e["status_detail"] = std::string(*v);
      break;
    }
  e["message"] = StrCat(origin, " ledger ", kind, r.Field("target") ? StrCat(" ", *r.Field("target")) : "");
  e["metadata"] = Json{{"version", kOcsfVersion},
                       {"product", {{"name", "taogate"}, {"vendor_name", "taogate"}, {"version", kVersion}}},
                       {"uid", ledger::Base64Encode(r.hash)},
                       {"sequence", r.seq},
                       {"log_name", StrCat(origin, "-ledger")}};
  if (m.cls.uid == kAuthorize.uid || r.Field("actor")) {
    Json actor = Json::object();
    if (auto a = r.Field("actor")) actor["user"] = Json{{"name", std::string(*a)}};
    if (auto w = r.Field("workload")) actor["process"] = Json{{"cmd_line", std::string(*w)}};
    e["actor"] = actor;
  }
  if (m.cls.uid == kNetwork.uid) {
    e["action_id"] = m.status_id == 1 ? 1 : 2;
    e["action"] = m.status_id == 1 ? "Allowed" : "Denied";
    AddEndpoint(e, FieldOr(r, "target"));
  } else if (auto t = r.Field("target")) {
    e["resource"] = Json{{"name", std::string(*t)}};  // what was authorized
  }
  if (auto n = r.Field("node_id")) e["device"] = Json{{"name", std::string(*n)}};
  e["unmapped"] = RecordJson(r);
  return e;
}

}  // namespace taogate::evidence
