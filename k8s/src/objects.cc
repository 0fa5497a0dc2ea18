#include "taogate/k8s/objects.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "taogate/common/status.h"

namespace taogate::k8s {
namespace {

using nlohmann::json;

const json* Field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return (it == obj.end() || it->is_null()) ? nullptr : &*it;
}

// An optional string field: "" when absent, an error when not a string.
absl::StatusOr<std::string> OptString(const json& obj, const char* key, const std::string& where) {
  const json* v = Field(obj, key);
  if (v == nullptr) return std::string();
  if (!v->is_string()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, " is not a string"));
  return v->get<std::string>();
}

absl::StatusOr<std::string> ReqString(const json& obj, const char* key, const std::string& where) {
  TG_ASSIGN_OR_RETURN(std::string s, OptString(obj, key, where));
  if (s.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, " is missing"));
  return s;
}

// An optional object field: an empty object when absent.
absl::StatusOr<const json*> OptObject(const json& obj, const char* key, const std::string& where) {
  static const json kEmpty = json::object();
  const json* v = Field(obj, key);
  if (v == nullptr) return &kEmpty;
  if (!v->is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, " is not an object"));
  return v;
}

absl::StatusOr<Labels> DecodeLabels(const json& meta) {
  TG_ASSIGN_OR_RETURN(const json* labels, OptObject(meta, "labels", "metadata"));
  Labels out;
  for (auto it = labels->begin(); it != labels->end(); ++it) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("metadata.labels.", it.key(), " is not a string"));
    }
    out.emplace(it.key(), it->get<std::string>());
  }
  return out;
}

absl::Status DecodeStatuses(const json& status, const char* key, ContainerKind kind,
                            std::vector<ContainerId>& out) {
  const json* list = Field(status, key);
  if (list == nullptr) return absl::OkStatus();
  std::string where = absl::StrCat("status.", key);
  if (!list->is_array()) return absl::InvalidArgumentError(where + " is not a list");
  for (const json& s : *list) {
    if (!s.is_object()) return absl::InvalidArgumentError(where + " has a non-object entry");
    ContainerId c;
    c.kind = kind;
    TG_ASSIGN_OR_RETURN(c.name, ReqString(s, "name", where));
    TG_ASSIGN_OR_RETURN(c.id, OptString(s, "containerID", where));
    out.push_back(std::move(c));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Pod> DecodePod(const json& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("pod is not an object");
  TG_ASSIGN_OR_RETURN(const json* meta, OptObject(object, "metadata", "pod"));
  TG_ASSIGN_OR_RETURN(const json* spec, OptObject(object, "spec", "pod"));
  TG_ASSIGN_OR_RETURN(const json* status, OptObject(object, "status", "pod"));
  Pod p;
  TG_ASSIGN_OR_RETURN(p.uid, ReqString(*meta, "uid", "metadata"));
  TG_ASSIGN_OR_RETURN(p.name, ReqString(*meta, "name", "metadata"));
  TG_ASSIGN_OR_RETURN(p.namespace_name, ReqString(*meta, "namespace", "metadata"));
  TG_ASSIGN_OR_RETURN(p.labels, DecodeLabels(*meta));
  TG_ASSIGN_OR_RETURN(p.service_account, OptString(*spec, "serviceAccountName", "spec"));
  TG_ASSIGN_OR_RETURN(p.node_name, OptString(*spec, "nodeName", "spec"));
  TG_ASSIGN_OR_RETURN(p.phase, OptString(*status, "phase", "status"));
  TG_ASSIGN_OR_RETURN(p.qos_class, OptString(*status, "qosClass", "status"));
  TG_RETURN_IF_ERROR(DecodeStatuses(*status, "initContainerStatuses", ContainerKind::kInit, p.containers));
  TG_RETURN_IF_ERROR(DecodeStatuses(*status, "containerStatuses", ContainerKind::kRegular, p.containers));
  TG_RETURN_IF_ERROR(DecodeStatuses(*status, "ephemeralContainerStatuses", ContainerKind::kEphemeral, p.containers));
  return p;
}

absl::StatusOr<Namespace> DecodeNamespace(const json& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("namespace is not an object");
  TG_ASSIGN_OR_RETURN(const json* meta, OptObject(object, "metadata", "namespace"));
  Namespace n;
  TG_ASSIGN_OR_RETURN(n.name, ReqString(*meta, "name", "metadata"));
  TG_ASSIGN_OR_RETURN(n.uid, OptString(*meta, "uid", "metadata"));
  TG_ASSIGN_OR_RETURN(n.labels, DecodeLabels(*meta));
  return n;
}

}  // namespace taogate::k8s
