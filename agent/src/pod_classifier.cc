#include "taogate/agent/pod_classifier.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "taogate/agent/hold_rules.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {

std::string_view VerdictName(WorkloadVerdict v) {
  switch (v) {
    case WorkloadVerdict::kGoverned: return "governed";
    case WorkloadVerdict::kUngoverned: return "ungoverned";
    case WorkloadVerdict::kNested: return "qos";
  }
  return "unknown";
}

// The pod uid of the agent's own cgroup (nullopt outside a pod): the agent's
// pod is never governed, whatever the bundle says.
std::optional<std::string> OwnPodUid(const k8s::KubepodsRoot& root, const std::string& self_cgroup) {
  auto self = k8s::ParsePodCgroup(root, self_cgroup);
  if (!self.ok() || !*self) return std::nullopt;
  return (*self)->pod_uid;
}

}  // namespace

PodClassifier::PodClassifier(k8s::KubepodsRoot root, std::string self_cgroup, WorkloadMap& kernel,
                             Evidence& evidence)
    : root_(std::move(root)), self_pod_uid_(OwnPodUid(root_, self_cgroup)), kernel_(kernel),
      evidence_(evidence) {}

absl::Status PodClassifier::Start(const std::vector<CgroupDir>& tree) {
  TG_ASSIGN_OR_RETURN(auto pinned, kernel_.List());
  std::lock_guard lock(mu_);
  for (const CgroupDir& c : tree) {
    AddDirLocked(c);
    if (auto it = pinned.find(c.id); it != pinned.end()) dirs_[c.id].written = it->second;
  }
  // Audit entries stay with live cgroups until re-decided, and end with
  // gone ones.
  TG_ASSIGN_OR_RETURN(auto audited, kernel_.Audited());
  for (uint64_t id : audited) {
    if (auto it = dirs_.find(id); it != dirs_.end()) {
      it->second.audit_rule = "(pinned)";
    } else if (absl::Status st = kernel_.SetAudit(id, false); !st.ok()) {
      ++counts_.kernel_errors_total;
      log::Warn("stale audit entry not removed", {{"cgroup_id", std::to_string(id)}, {"error", std::string(st.message())}});
    }
  }
  // Entries of cgroups that are gone: their ids are never reused while the
  // cgroup exists, but a stale grant must not outlive its pod.
  for (const auto& [id, verdict] : pinned) {
    if (dirs_.count(id)) continue;
    absl::StatusOr<size_t> n = kernel_.Forget(id);
    if (!n.ok()) {
      ++counts_.kernel_errors_total;
      log::Warn("stale workload not removed", {{"cgroup_id", std::to_string(id)},
                                               {"error", std::string(n.status().message())}});
      continue;
    }
    ++counts_.removed_total;
    Dir gone;
    gone.written = verdict;
    RecordLocked("stale", gone, id, *n);
  }
  // Live cgroups keep the pinned verdict until everything is known
  // (DesiredLocked); QoS cgroups, the agent's own pod and cgroups nothing
  // was pinned for are decided now (the latter governed).
  DecideAllLocked("start");
  return absl::OkStatus();
}

// Always called with mu_ held; `d` belongs to dirs_.
WorkloadVerdict PodClassifier::DesiredLocked(const Dir& d) const {
  if (d.qos) return WorkloadVerdict::kNested;
  if (!d.pod_uid) return WorkloadVerdict::kGoverned;  // a name kubelet does not make
  if (self_pod_uid_ && *self_pod_uid_ == *d.pod_uid) return WorkloadVerdict::kUngoverned;
  if (!DecidedLocked()) return d.written.value_or(WorkloadVerdict::kGoverned);
  auto pod = pods_.find(*d.pod_uid);
  if (pod == pods_.end()) return WorkloadVerdict::kGoverned;
  auto ns = namespaces_.find(pod->second.namespace_name);
  if (ns == namespaces_.end()) return WorkloadVerdict::kGoverned;
  return k8s::AnyGoverns(selectors_, pod->second, ns->second) ? WorkloadVerdict::kGoverned
                                                               : WorkloadVerdict::kUngoverned;
}

void PodClassifier::DecideLocked(uint64_t id, Dir& d, std::string_view why) {
  WorkloadVerdict want = DesiredLocked(d);
  if (d.written == want) return AuditLocked(id, d);
  if (absl::Status st = kernel_.Set(id, want); !st.ok()) {
    // The old entry (or none: governed) stays in force, which is closed
    // unless the old entry was kUngoverned and the pod is now governed:
    // say so loudly; the next event or rescan retries.
    ++counts_.kernel_errors_total;
    log::Error("workload map write failed", {{"cgroup", d.path},
                                             {"verdict", std::string(VerdictName(want))},
                                             {"error", std::string(st.message())}});
    return;
  }
  d.written = want;
  ++counts_.changes_total;
  if (!d.qos) RecordLocked(why, d, id, 0);
  AuditLocked(id, d);
}

// Audited: a governed pod cgroup of a known pod that an audited workload
// matches. Until everything is known the kernel keeps what it holds.
void PodClassifier::AuditLocked(uint64_t id, Dir& d) {
  if (d.qos || !d.pod_uid || !DecidedLocked()) return;
  std::string want;
  auto pod = pods_.find(*d.pod_uid);
  if (d.written == WorkloadVerdict::kGoverned && pod != pods_.end() && !audit_workloads_.empty()) {
    v1::AttestedWorkload f;
    f.set_node_id(node_id_);
    f.set_cgroup_id(id);
    f.set_cgroup_path(d.path);
    f.set_pod_uid(pod->second.uid);
    f.set_namespace_(pod->second.namespace_name);
    f.set_pod_name(pod->second.name);
    f.set_service_account(pod->second.service_account);
    f.mutable_pod_labels()->insert(pod->second.labels.begin(), pod->second.labels.end());
    want = FirstMatch(audit_workloads_, f);
  }
  if (want.empty() == d.audit_rule.empty()) {
    if (!want.empty()) d.audit_rule = want;
    return;
  }
  if (absl::Status st = kernel_.SetAudit(id, !want.empty()); !st.ok()) {
    ++counts_.kernel_errors_total;
    log::Error("audit map write failed", {{"cgroup", d.path}, {"error", std::string(st.message())}});
    return;
  }
  // The record names the rule: the new one (on), the one that audited it (off).
  const bool on = !want.empty();
  if (on) d.audit_rule = want;
  RecordLocked(on ? "audit_on" : "audit_off", d, id, 0);
  if (!on) d.audit_rule.clear();
}

void PodClassifier::DecidePodLocked(const std::string& uid, std::string_view why) {
  auto it = by_uid_.find(uid);
  if (it != by_uid_.end()) DecideLocked(it->second, dirs_[it->second], why);
}

void PodClassifier::DecideAllLocked(std::string_view why) {
  for (auto& [id, d] : dirs_) DecideLocked(id, d, why);
}

void PodClassifier::ForgetLocked(uint64_t id, const Dir& d, std::string_view event) {
  absl::StatusOr<size_t> n = kernel_.Forget(id);
  if (!n.ok()) {
    ++counts_.kernel_errors_total;
    log::Error("workload not removed", {{"cgroup", d.path}, {"error", std::string(n.status().message())}});
    return;
  }
  ++counts_.removed_total;
  scope_quarantined_.erase(id);
  RecordLocked(event, d, id, *n);
}

void PodClassifier::AddDirLocked(const CgroupDir& c) {
  Dir d;
  d.path = c.path;
  absl::StatusOr<std::optional<k8s::PodCgroup>> pc = k8s::ParsePodCgroup(root_, c.path);
  if (!pc.ok()) {
    log::Warn("cgroup below the kubepods root is not kubelet's; governed",
              {{"cgroup", c.path}, {"why", std::string(pc.status().message())}});
  } else if (!*pc) {
    d.qos = true;
  } else if ((*pc)->depth == 0) {
    d.pod_uid = (*pc)->pod_uid;
    by_uid_[*d.pod_uid] = c.id;
  } else {
    return;  // a container cgroup: its pod decides
  }
  auto [it, fresh] = dirs_.try_emplace(c.id, std::move(d));
  if (!fresh && it->second.path != c.path) it->second.path = c.path;
}

void PodClassifier::DropUidLocked(uint64_t id, const Dir& d) {
  if (!d.pod_uid) return;
  if (auto u = by_uid_.find(*d.pod_uid); u != by_uid_.end() && u->second == id) by_uid_.erase(u);
}

void PodClassifier::RecordLocked(std::string_view event, const Dir& d, uint64_t id, size_t removed) {
  Evidence::Fields f = {{"event", std::string(event)}, {"cgroup_id", std::to_string(id)}};
  if (d.written) f.emplace_back("verdict", std::string(VerdictName(*d.written)));
  if (d.pod_uid) {
    f.emplace_back("pod_uid", *d.pod_uid);
    if (auto p = pods_.find(*d.pod_uid); p != pods_.end())
      f.emplace_back("workload", StrCat(p->second.namespace_name, "/", p->second.name));
  }
  if (!d.path.empty()) f.emplace_back("path", d.path);
  if (!d.audit_rule.empty()) f.emplace_back("rule", d.audit_rule);
  f.emplace_back("count", std::to_string(removed));
  // Evidence only: a full ledger never holds the kernel state back.
  if (auto st = evidence_.Append(Evidence::Kind::kWorkload, std::move(f)); !st.ok())
    log::Warn("WORKLOAD record not written", {{"error", std::string(st.status().message())}});
}

void PodClassifier::SetSelectors(std::vector<k8s::PodSelector> selectors) {
  std::lock_guard lock(mu_);
  selectors_ = std::move(selectors);
  selectors_known_ = true;
  DecideAllLocked("policy");
}

void PodClassifier::SetAuditWorkloads(std::vector<v1::HoldWorkload> workloads, std::string node_id) {
  std::lock_guard lock(mu_);
  audit_workloads_ = std::move(workloads);
  node_id_ = std::move(node_id);
  for (auto& [id, d] : dirs_) AuditLocked(id, d);
}

void PodClassifier::CgroupAppeared(const CgroupDir& dir) {
  std::lock_guard lock(mu_);
  AddDirLocked(dir);
  if (auto it = dirs_.find(dir.id); it != dirs_.end()) {
    DecideLocked(dir.id, it->second, "cgroup");
    if (it->second.pod_uid) ApplyScopesLocked(*it->second.pod_uid);
  }
}

void PodClassifier::CgroupGone(const std::string& path) {
  std::lock_guard lock(mu_);
  for (auto it = dirs_.begin(); it != dirs_.end(); ++it) {
    if (it->second.path != path) continue;
    DropUidLocked(it->first, it->second);
    Dir d = std::move(it->second);
    uint64_t id = it->first;
    dirs_.erase(it);
    ForgetLocked(id, d, "cgroup_removed");
    return;
  }
}

void PodClassifier::Retain(const std::vector<CgroupDir>& tree) {
  std::set<uint64_t> live;
  for (const CgroupDir& c : tree) live.insert(c.id);
  std::lock_guard lock(mu_);
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    DropUidLocked(it->first, it->second);
    Dir d = std::move(it->second);
    uint64_t id = it->first;
    it = dirs_.erase(it);
    ForgetLocked(id, d, "cgroup_removed");
  }
}

void PodClassifier::OnPodAdded(const k8s::Pod& pod) {
  std::lock_guard lock(mu_);
  pods_[pod.uid] = pod;
  DecidePodLocked(pod.uid, "pod");
  ApplyScopesLocked(pod.uid);
}

void PodClassifier::OnPodUpdated(const k8s::Pod&, const k8s::Pod& pod) { OnPodAdded(pod); }

void PodClassifier::OnPodDeleted(const k8s::Pod& pod) {
  std::lock_guard lock(mu_);
  auto it = by_uid_.find(pod.uid);
  if (it != by_uid_.end()) {
    Dir& d = dirs_[it->second];
    ForgetLocked(it->second, d, "pod_deleted");
    d.written.reset();
    d.audit_rule.clear();  // Forget ended it
  }
  pods_.erase(pod.uid);
  // The cgroup may outlive the API object for a moment: governed until it goes.
  if (it != by_uid_.end()) DecideLocked(it->second, dirs_[it->second], "cgroup_remains");
}

void PodClassifier::OnNamespaceAdded(const k8s::Namespace& ns) {
  std::lock_guard lock(mu_);
  namespaces_[ns.name] = ns;
  for (const auto& [uid, pod] : pods_)
    if (pod.namespace_name == ns.name) DecidePodLocked(uid, "namespace");
}

void PodClassifier::OnNamespaceUpdated(const k8s::Namespace&, const k8s::Namespace& ns) {
  OnNamespaceAdded(ns);
}

void PodClassifier::OnNamespaceDeleted(const k8s::Namespace& ns) {
  std::lock_guard lock(mu_);
  namespaces_.erase(ns.name);
  for (const auto& [uid, pod] : pods_)
    if (pod.namespace_name == ns.name) DecidePodLocked(uid, "namespace");
}

void PodClassifier::OnSynced(k8s::Resource resource) {
  std::lock_guard lock(mu_);
  (resource == k8s::Resource::kPods ? pods_synced_ : namespaces_synced_) = true;
  DecideAllLocked("sync");
}

std::optional<WorkloadVerdict> PodClassifier::VerdictOf(uint64_t cgroup_id) const {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(cgroup_id);
  if (it == dirs_.end()) return std::nullopt;
  return it->second.written;
}

std::optional<k8s::Pod> PodClassifier::PodOf(const std::string& uid) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

std::vector<uint64_t> PodClassifier::GovernedCgroups() const {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> out;
  for (const auto& [id, d] : dirs_)
    if (!d.qos && d.written == WorkloadVerdict::kGoverned) out.push_back(id);
  return out;
}

std::vector<AuditedWorkload> PodClassifier::AuditedWorkloads() const {
  std::lock_guard lock(mu_);
  std::vector<AuditedWorkload> out;
  for (const auto& [id, d] : dirs_)
    if (!d.audit_rule.empty()) out.push_back({id, d.path, d.audit_rule});
  return out;
}

PodCounts PodClassifier::counts() const {
  std::lock_guard lock(mu_);
  PodCounts c = counts_;
  c.governed = c.ungoverned = c.unclassified = 0;
  for (const auto& [id, d] : dirs_) {
    if (d.qos || !d.written) continue;
    if (*d.written == WorkloadVerdict::kUngoverned) {
      ++c.ungoverned;
    } else if (d.pod_uid && pods_.count(*d.pod_uid) && DecidedLocked()) {
      ++c.governed;
    } else {
      ++c.unclassified;
    }
  }
  c.decided = DecidedLocked();
  return c;
}

absl::StatusOr<std::vector<CgroupDir>> ScanPodLevels(const std::string& mount, const std::string& root_rel) {
  std::vector<CgroupDir> out;
  auto list = [&](const std::string& rel, bool recurse, auto& self) -> absl::Status {
    std::string abs = mount + rel;
    DIR* dir = opendir(abs.c_str());
    if (dir == nullptr) {
      if (errno == ENOENT && rel != root_rel) return absl::OkStatus();  // removed meanwhile
      return absl::UnavailableError(StrCat("cannot list ", abs, ": ", strerror(errno)));
    }
    std::vector<std::string> children;
    while (dirent* e = readdir(dir)) {
      if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
      children.emplace_back(e->d_name);
    }
    closedir(dir);
    for (const std::string& name : children) {
      std::string child = rel + "/" + name;
      struct stat st {};
      if (stat((mount + child).c_str(), &st) != 0) continue;  // removed meanwhile
      out.push_back({child, static_cast<uint64_t>(st.st_ino)});
      if (recurse) TG_RETURN_IF_ERROR(self(child, false, self));
    }
    return absl::OkStatus();
  };
  TG_RETURN_IF_ERROR(list(root_rel, true, list));
  return out;
}

}  // namespace taogate::agent
