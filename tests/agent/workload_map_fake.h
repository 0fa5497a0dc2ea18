// A WorkloadMap in memory (it mirrors bpf::Gate: Forget ends audit mode too)
// and kubepods-shaped names and API objects, for PodClassifier tests.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "taogate/agent/pod_classifier.h"

namespace taogate::agent::fakes {

constexpr char kUidA[] = "0b7c9a34-1111-4c2e-9a55-2f6d4b8e1a01";
constexpr char kUidB[] = "0b7c9a34-2222-4c2e-9a55-2f6d4b8e1a02";
constexpr char kUidSelf[] = "0b7c9a34-3333-4c2e-9a55-2f6d4b8e1a03";

class FakeWorkloadMap : public WorkloadMap {
 public:
  absl::Status Set(uint64_t id, WorkloadVerdict v) override {
    std::lock_guard l(mu_);
    if (fail) return absl::InternalError("map full");
    ++writes;
    entries[id] = v;
    return absl::OkStatus();
  }
  absl::StatusOr<size_t> Forget(uint64_t id) override {
    std::lock_guard l(mu_);
    forgotten.push_back(id);
    audited.erase(id);  // as bpf::Gate::ForgetWorkload
    return entries.erase(id) + grants.erase(id);
  }
  absl::StatusOr<std::map<uint64_t, WorkloadVerdict>> List() const override {
    std::lock_guard l(mu_);
    return entries;
  }
  absl::Status Quarantine(uint64_t id, bool kill) override {
    std::lock_guard l(mu_);
    quarantined[id] = kill;
    return absl::OkStatus();
  }
  absl::Status Release(uint64_t id) override {
    std::lock_guard l(mu_);
    quarantined.erase(id);
    return absl::OkStatus();
  }
  absl::Status SetAudit(uint64_t id, bool on) override {
    std::lock_guard l(mu_);
    if (fail) return absl::InternalError("map full");
    if (on) audited.insert(id);
    else audited.erase(id);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<uint64_t>> Audited() const override {
    std::lock_guard l(mu_);
    return std::vector<uint64_t>(audited.begin(), audited.end());
  }
  bool IsAudited(uint64_t id) const {
    std::lock_guard l(mu_);
    return audited.count(id) > 0;
  }
  std::optional<WorkloadVerdict> At(uint64_t id) {
    std::lock_guard l(mu_);
    auto it = entries.find(id);
    return it == entries.end() ? std::nullopt : std::optional<WorkloadVerdict>(it->second);
  }
  mutable std::mutex mu_;
  std::map<uint64_t, WorkloadVerdict> entries;
  std::map<uint64_t, int> grants;  // stands for grants/quarantine keyed on the workload
  std::vector<uint64_t> forgotten;
  std::map<uint64_t, bool> quarantined;
  std::set<uint64_t> audited;
  int writes = 0;
  bool fail = false;
};

inline std::string Underscored(std::string uid) {
  for (char& c : uid) c = c == '-' ? '_' : c;
  return uid;
}
inline std::string BurstablePod(const std::string& uid) {
  return "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + Underscored(uid) + ".slice";
}
inline std::string GuaranteedPod(const std::string& uid) {
  return "/kubepods.slice/kubepods-pod" + Underscored(uid) + ".slice";
}

inline k8s::Pod MakePod(const std::string& uid, const std::string& ns, k8s::Labels labels) {
  k8s::Pod p;
  p.uid = uid;
  p.namespace_name = ns;
  p.name = "pod-" + uid.substr(9, 4);
  p.labels = std::move(labels);
  p.node_name = "node-1";
  p.service_account = "default";
  return p;
}
inline k8s::Namespace MakeNs(const std::string& name, k8s::Labels labels) {
  return {.name = name, .uid = "ns-" + name, .labels = std::move(labels)};
}

// Governs pods labelled role=ai-agent in namespaces labelled governed=true.
inline std::vector<k8s::PodSelector> AgentSelectors() {
  k8s::PodSelector s;
  s.namespace_selector = *k8s::LabelSelector::Make({{"governed", "true"}}, {});
  s.pod_selector = *k8s::LabelSelector::Make({{"role", "ai-agent"}}, {});
  return {s};
}

}  // namespace taogate::agent::fakes
