// The agent's view of Kubernetes: the pods of its own node
// (fieldSelector=spec.nodeName=NODE) and all namespaces, each kept by a
// Reflector into one Store. Needs RBAC get/list/watch on pods and namespaces.
// Start()/Stop() as Reflector; the NodeWatch must outlive neither the client
// nor the store.
#pragma once

#include <string>

#include "taogate/k8s/api_client.h"
#include "taogate/k8s/reflector.h"
#include "taogate/k8s/store.h"

namespace taogate::k8s {

class NodeWatch {
 public:
  NodeWatch(ApiClient& client, Store& store, const std::string& node_name,
            ReflectorOptions options = {});
  void Start();
  void Stop();
  ReflectorStatus PodStatus() const { return pods_.Status(); }
  ReflectorStatus NamespaceStatus() const { return namespaces_.Status(); }

 private:
  Reflector pods_;
  Reflector namespaces_;
};

}  // namespace taogate::k8s
