#include "taogate/k8s/store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "taogate/common/status.h"

namespace taogate::k8s {
namespace {

// Decodes every item first, so a bad item changes nothing.
template <typename T, typename DecodeFn>
absl::StatusOr<std::vector<T>> DecodeAll(const nlohmann::json& items, DecodeFn decode) {
  if (!items.is_array()) return absl::InvalidArgumentError("list items is not an array");
  std::vector<T> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto v = decode(items[i]);
    if (!v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("list item ", i, ": ", v.status().message()));
    }
    out.push_back(*std::move(v));
  }
  return out;
}

}  // namespace

Store::Store(std::string node_name, StoreListener* listener)
    : node_name_(std::move(node_name)), listener_(listener) {}

void Store::PutPod(Pod pod) {
  if (pod.node_name != node_name_) {  // not ours, whatever the server sent
    DropPod(pod.uid);
    return;
  }
  auto it = pods_.find(pod.uid);
  if (it == pods_.end()) {
    const Pod& p = pods_.emplace(pod.uid, std::move(pod)).first->second;
    if (listener_) listener_->OnPodAdded(p);
  } else if (!(it->second == pod)) {
    Pod old = std::exchange(it->second, std::move(pod));
    if (listener_) listener_->OnPodUpdated(old, it->second);
  }
}

void Store::DropPod(const std::string& uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return;
  Pod old = std::move(it->second);
  pods_.erase(it);
  if (listener_) listener_->OnPodDeleted(old);
}

void Store::PutNamespace(Namespace ns) {
  auto it = namespaces_.find(ns.name);
  if (it == namespaces_.end()) {
    const Namespace& n = namespaces_.emplace(ns.name, std::move(ns)).first->second;
    if (listener_) listener_->OnNamespaceAdded(n);
  } else if (!(it->second == ns)) {
    Namespace old = std::exchange(it->second, std::move(ns));
    if (listener_) listener_->OnNamespaceUpdated(old, it->second);
  }
}

void Store::DropNamespace(const std::string& name) {
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return;
  Namespace old = std::move(it->second);
  namespaces_.erase(it);
  if (listener_) listener_->OnNamespaceDeleted(old);
}

absl::Status Store::PodSink::Replace(const nlohmann::json& items) {
  TG_ASSIGN_OR_RETURN(std::vector<Pod> pods, DecodeAll<Pod>(items, DecodePod));
  std::lock_guard<std::mutex> lock(s_.mu_);
  std::map<std::string, Pod> fresh;
  for (Pod& p : pods) {
    if (p.node_name == s_.node_name_) fresh.emplace(p.uid, std::move(p));
  }
  std::vector<std::string> gone;
  for (const auto& [uid, pod] : s_.pods_) {
    if (!fresh.count(uid)) gone.push_back(uid);
  }
  for (const std::string& uid : gone) s_.DropPod(uid);
  for (auto& [uid, pod] : fresh) s_.PutPod(std::move(pod));
  s_.pods_synced_ = true;
  if (s_.listener_) s_.listener_->OnSynced(Resource::kPods);
  return absl::OkStatus();
}

absl::Status Store::PodSink::Apply(EventType type, const nlohmann::json& object) {
  TG_ASSIGN_OR_RETURN(Pod pod, DecodePod(object));
  std::lock_guard<std::mutex> lock(s_.mu_);
  if (type == EventType::kDeleted) {
    s_.DropPod(pod.uid);
  } else {
    s_.PutPod(std::move(pod));
  }
  return absl::OkStatus();
}

absl::Status Store::NamespaceSink::Replace(const nlohmann::json& items) {
  TG_ASSIGN_OR_RETURN(std::vector<Namespace> all, DecodeAll<Namespace>(items, DecodeNamespace));
  std::lock_guard<std::mutex> lock(s_.mu_);
  std::map<std::string, Namespace> fresh;
  for (Namespace& n : all) fresh.emplace(n.name, std::move(n));
  std::vector<std::string> gone;
  for (const auto& [name, ns] : s_.namespaces_) {
    if (!fresh.count(name)) gone.push_back(name);
  }
  for (const std::string& name : gone) s_.DropNamespace(name);
  for (auto& [name, ns] : fresh) s_.PutNamespace(std::move(ns));
  s_.namespaces_synced_ = true;
  if (s_.listener_) s_.listener_->OnSynced(Resource::kNamespaces);
  return absl::OkStatus();
}

absl::Status Store::NamespaceSink::Apply(EventType type, const nlohmann::json& object) {
  TG_ASSIGN_OR_RETURN(Namespace ns, DecodeNamespace(object));
  std::lock_guard<std::mutex> lock(s_.mu_);
  if (type == EventType::kDeleted) {
    s_.DropNamespace(ns.name);
  } else {
    s_.PutNamespace(std::move(ns));
  }
  return absl::OkStatus();
}

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
