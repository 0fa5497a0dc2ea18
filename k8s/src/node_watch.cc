#include "taogate/k8s/node_watch.h"

namespace taogate::k8s {

NodeWatch::NodeWatch(ApiClient& client, Store& store, const std::string& node_name,
                     ReflectorOptions options)
    : pods_("pods", client, "/api/v1/pods", "spec.nodeName=" + node_name, store.pods_sink(),
            options),
      namespaces_("namespaces", client, "/api/v1/namespaces", "", store.namespaces_sink(),
                  options) {}

void NodeWatch::Start() {
  pods_.Start();
  namespaces_.Start();
}

void NodeWatch::Stop() {
  pods_.RequestStop();
  namespaces_.RequestStop();
  pods_.Stop();
  namespaces_.Stop();
}

}  // namespace taogate::k8s
