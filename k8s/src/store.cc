#include "taogate/k8s/store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "taogate/common/status.h"

namespace taogate::k8s {
namespace {

// What differs between the two kinds of object.
const std::string& Key(const Pod& p) { return p.uid; }
const std::string& Key(const Namespace& n) { return n.name; }
absl::StatusOr<Pod> Decode(const nlohmann::json& j, const Pod*) { return DecodePod(j); }
absl::StatusOr<Namespace> Decode(const nlohmann::json& j, const Namespace*) { return DecodeNamespace(j); }
void Added(StoreListener& l, const Pod& p) { l.OnPodAdded(p); }
void Added(StoreListener& l, const Namespace& n) { l.OnNamespaceAdded(n); }
void Updated(StoreListener& l, const Pod& o, const Pod& p) { l.OnPodUpdated(o, p); }
void Updated(StoreListener& l, const Namespace& o, const Namespace& n) { l.OnNamespaceUpdated(o, n); }
void Deleted(StoreListener& l, const Pod& p) { l.OnPodDeleted(p); }
void Deleted(StoreListener& l, const Namespace& n) { l.OnNamespaceDeleted(n); }
constexpr Resource ResourceOf(const Pod*) { return Resource::kPods; }
constexpr Resource ResourceOf(const Namespace*) { return Resource::kNamespaces; }

}  // namespace

template <> std::map<std::string, Pod>& Store::Held<Pod>() { return pods_; }
template <> std::map<std::string, Namespace>& Store::Held<Namespace>() { return namespaces_; }

template <typename T>
void Store::Put(T obj) {
  if (!Keep(obj)) {  // not this node's pod, whatever the server sent
    Drop<T>(Key(obj));
    return;
  }
  auto& held = Held<T>();
  auto it = held.find(Key(obj));
  if (it == held.end()) {
    const T& added = held.emplace(Key(obj), std::move(obj)).first->second;
    if (listener_) Added(*listener_, added);
  } else if (!(it->second == obj)) {
    T old = std::exchange(it->second, std::move(obj));
    if (listener_) Updated(*listener_, old, it->second);
  }
}

template <typename T>
void Store::Drop(const std::string& key) {
  auto& held = Held<T>();
  auto it = held.find(key);
  if (it == held.end()) return;
  T old = std::move(it->second);
  held.erase(it);
  if (listener_) Deleted(*listener_, old);
}

template <typename T>
class Store::TypedSink : public Sink {
 public:
  explicit TypedSink(Store& s) : s_(s) {}

  // Decodes every item first, so a bad item changes nothing; then the diff:
  // what vanished is deleted, what is new or changed is put.
  absl::Status Replace(const nlohmann::json& items) override {
    if (!items.is_array()) return absl::InvalidArgumentError("list items is not an array");
    std::map<std::string, T> fresh;
    for (size_t i = 0; i < items.size(); ++i) {
      absl::StatusOr<T> v = Decode(items[i], static_cast<const T*>(nullptr));
      if (!v.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("list item ", i, ": ", v.status().message()));
      }
      if (s_.Keep(*v)) fresh.emplace(Key(*v), *std::move(v));
    }
    std::lock_guard<std::mutex> lock(s_.mu_);
    std::vector<std::string> gone;
    for (const auto& [key, obj] : s_.Held<T>()) {
      if (!fresh.count(key)) gone.push_back(key);
    }
    for (const std::string& key : gone) s_.Drop<T>(key);
    for (auto& [key, obj] : fresh) s_.Put(std::move(obj));
    constexpr Resource r = ResourceOf(static_cast<const T*>(nullptr));
    (r == Resource::kPods ? s_.pods_synced_ : s_.namespaces_synced_) = true;
    if (s_.listener_) s_.listener_->OnSynced(r);
    return absl::OkStatus();
  }

  absl::Status Apply(EventType type, const nlohmann::json& object) override {
    TG_ASSIGN_OR_RETURN(T obj, Decode(object, static_cast<const T*>(nullptr)));
    std::lock_guard<std::mutex> lock(s_.mu_);
    if (type == EventType::kDeleted) {
      s_.Drop<T>(Key(obj));
    } else {
      s_.Put(std::move(obj));
    }
    return absl::OkStatus();
  }

 private:
  Store& s_;
};

Store::Store(std::string node_name, StoreListener* listener)
    : node_name_(std::move(node_name)),
      listener_(listener),
      pods_sink_(std::make_unique<TypedSink<Pod>>(*this)),
      namespaces_sink_(std::make_unique<TypedSink<Namespace>>(*this)) {}

Store::~Store() = default;

std::optional<Pod> Store::PodByUid(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

std::vector<Pod> Store::Pods() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Pod> out;
  for (const auto& [uid, p] : pods_) out.push_back(p);
  return out;
}

std::optional<Namespace> Store::NamespaceByName(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return std::nullopt;
  return it->second;
}

std::vector<Namespace> Store::Namespaces() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Namespace> out;
  for (const auto& [name, n] : namespaces_) out.push_back(n);
  return out;
}

bool Store::synced(Resource r) const {
  std::lock_guard<std::mutex> lock(mu_);
  return r == Resource::kPods ? pods_synced_ : namespaces_synced_;
}

}  // namespace taogate::k8s
