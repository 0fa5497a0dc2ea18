// Pods and namespaces as the API server gives them, reduced to what
// PodSelector::Governs reads; for the selector tests of k8s, policies and
// governance.
#pragma once

#include <string>
#include <utility>

#include "taogate/k8s/objects.h"

namespace taogate::k8s::testing {

inline Pod TestPod(std::string ns, Labels labels, std::string service_account) {
  Pod p;
  p.uid = "0f3a9c2e-5b1d-4e7a-9c11-2b3c4d5e6f70";
  p.namespace_name = std::move(ns);
  p.name = "p";
  p.labels = std::move(labels);
  p.service_account = std::move(service_account);
  return p;
}

// With the kubernetes.io/metadata.name label the API server always sets.
inline Namespace TestNamespace(const std::string& name, Labels labels) {
  labels["kubernetes.io/metadata.name"] = name;
  return Namespace{name, "ns-uid-" + name, std::move(labels)};
}

}  // namespace taogate::k8s::testing
