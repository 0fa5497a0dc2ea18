// The node's current pods and the cluster's namespaces, exactly as last heard
// from the API server, with change callbacks.
//
// A Store is fed by two Reflectors through its Sinks (reflector.h): Replace()
// after every (re)list computes adds, updates and the deletions of objects that
// vanished while the watch was down, then reports Synced; Apply() takes one
// watch event. A pod whose spec.nodeName is not this node is never stored
// (whatever the server sends). A batch that does not decode changes nothing.
//
// Threading: all methods are thread-safe. Listener callbacks run on the
// reflector threads, serialized by the store's lock and in event order; they
// must not call back into the Store.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/status.h"
#include "taogate/k8s/objects.h"
#include "taogate/k8s/watch_stream.h"

namespace taogate::k8s {

enum class Resource { kPods, kNamespaces };

class StoreListener {
 public:
  virtual ~StoreListener() = default;
  virtual void OnPodAdded(const Pod& pod) {}
  virtual void OnPodUpdated(const Pod& old_pod, const Pod& pod) {}
  virtual void OnPodDeleted(const Pod& pod) {}
  virtual void OnNamespaceAdded(const Namespace& ns) {}
  virtual void OnNamespaceUpdated(const Namespace& old_ns, const Namespace& ns) {}
  virtual void OnNamespaceDeleted(const Namespace& ns) {}
  // After each successful (re)list of `resource`, once its diff is delivered.
  virtual void OnSynced(Resource resource) {}
};

// What a Reflector feeds: whole lists and single events of one resource.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual absl::Status Replace(const nlohmann::json& items) = 0;
  virtual absl::Status Apply(EventType type, const nlohmann::json& object) = 0;
};

class Store {
 public:
  // `listener` may be null; it must outlive the Store.
  Store(std::string node_name, StoreListener* listener);
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  ~Store();
  Sink& pods_sink() { return *pods_sink_; }
  Sink& namespaces_sink() { return *namespaces_sink_; }

  std::optional<Pod> PodByUid(const std::string& uid) const;
  std::vector<Pod> Pods() const;  // ordered by uid
  std::optional<Namespace> NamespaceByName(const std::string& name) const;
  std::vector<Namespace> Namespaces() const;
  bool synced(Resource r) const;

 private:
  template <typename T> class TypedSink;  // store.cc
  // With mu_ held: store `obj` (or drop it if it is not this node's), and
  // drop by key; both tell the listener.
  template <typename T> void Put(T obj);
  template <typename T> void Drop(const std::string& key);
  template <typename T> std::map<std::string, T>& Held();
  bool Keep(const Pod& pod) const { return pod.node_name == node_name_; }
  bool Keep(const Namespace&) const { return true; }

  const std::string node_name_;
  StoreListener* const listener_;
  std::unique_ptr<Sink> pods_sink_;
  std::unique_ptr<Sink> namespaces_sink_;
  mutable std::mutex mu_;
  std::map<std::string, Pod> pods_;            // by uid
  std::map<std::string, Namespace> namespaces_;  // by name
  bool pods_synced_ = false;
  bool namespaces_synced_ = false;
};

}  // namespace taogate::k8s
