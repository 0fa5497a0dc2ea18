// The fields of a Pod and a Namespace taogate keeps, decoded from the API
// server's JSON (core/v1). Only what the API server says: spec and status as
// stored, never anything the pod reports about itself through other channels.
//
// Decoding is strict about what it keeps: a missing uid/name/namespace, or a
// kept field of the wrong JSON type, is kInvalidArgument naming the field.
// Absent optional fields (labels, phase, qosClass, statuses) decode as empty.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"

namespace taogate::k8s {

using Labels = std::map<std::string, std::string>;

enum class ContainerKind { kInit, kRegular, kEphemeral };

struct ContainerId {
  ContainerKind kind = ContainerKind::kRegular;
  std::string name;
  std::string id;  // "<runtime>://<64 hex>" as in status; empty until started
  bool operator==(const ContainerId&) const = default;
};

struct Pod {
  std::string uid;
  std::string namespace_name;
  std::string name;
  Labels labels;
  std::string service_account;  // spec.serviceAccountName
  std::string node_name;        // spec.nodeName
  std::string phase;            // status.phase
  std::string qos_class;        // status.qosClass: Guaranteed, Burstable, BestEffort
  std::vector<ContainerId> containers;  // init, regular, ephemeral statuses
  bool operator==(const Pod&) const = default;
};

struct Namespace {
  std::string name;
  std::string uid;
  Labels labels;
  bool operator==(const Namespace&) const = default;
};

absl::StatusOr<Pod> DecodePod(const nlohmann::json& object);
absl::StatusOr<Namespace> DecodeNamespace(const nlohmann::json& object);

}  // namespace taogate::k8s
