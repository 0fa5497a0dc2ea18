#include "taogate/agent/audit_workloads.h"

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "taogate/agent/hold_rules.h"
#include "taogate/common/log.h"
#include "taogate/common/strings.h"

namespace taogate::agent {

absl::Status ValidateAuditWorkloads(const v1::ProtectedTargets& msg) {
  for (int i = 0; i < msg.audit_workloads_size(); ++i) {
    const v1::HoldWorkload& w = msg.audit_workloads(i);
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(StrCat("audited workload ", i, " (", w.id(), "): ", why));
    };
    if (absl::Status st = CheckBundleWorkload(w); !st.ok()) return bad(std::string(st.message()));
    if (!w.exe_paths().empty() || !w.exe_sha256().empty())
      return bad("exe selectors cannot cover a whole workload cgroup");
  }
  return absl::OkStatus();
}

RootAuditSync::RootAuditSync(WorkloadMap& kernel, Evidence& evidence, std::string mount, std::string root_rel,
                             std::string node_id, int64_t rescan_ms)
    : kernel_(kernel), evidence_(evidence), mount_(std::move(mount)), root_rel_(std::move(root_rel)),
      node_id_(std::move(node_id)), rescan_ms_(rescan_ms) {}

RootAuditSync::~RootAuditSync() { Stop(); }

void RootAuditSync::Applied(const v1::ProtectedTargets& msg) {
  {
    std::lock_guard lock(mu_);
    rules_.assign(msg.audit_workloads().begin(), msg.audit_workloads().end());
  }
  if (absl::Status st = Reconcile(); !st.ok())
    log::Warn("audited workloads not reconciled", {{"error", std::string(st.message())}});
}

absl::Status RootAuditSync::Reconcile() {
  std::lock_guard lock(mu_);
  const std::string root = mount_ + root_rel_;
  DIR* dir = opendir(root.c_str());
  if (dir == nullptr) return absl::UnavailableError(StrCat("cannot list ", root, ": ", strerror(errno)));
  std::map<uint64_t, AuditedWorkload> want;
  while (dirent* e = rules_.empty() ? nullptr : readdir(dir)) {  // no rules: nothing is wanted
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    AuditedWorkload w;
    w.path = StrCat(root_rel_ == "/" ? "" : root_rel_, "/", e->d_name);
    struct stat st {};
    if (stat((mount_ + w.path).c_str(), &st) != 0) continue;  // gone meanwhile
    w.cgroup_id = static_cast<uint64_t>(st.st_ino);
    v1::AttestedWorkload facts;
    facts.set_node_id(node_id_);
    facts.set_cgroup_id(w.cgroup_id);
    facts.set_cgroup_path(w.path);
    w.rule = FirstMatch(rules_, facts);
    if (!w.rule.empty()) want.emplace(w.cgroup_id, std::move(w));
  }
  closedir(dir);
  // Ends first (stricter on the way), then starts. Entries the kernel holds
  // that this agent did not write (a previous agent's) are ended too.
  absl::StatusOr<std::vector<uint64_t>> held = kernel_.Audited();
  if (!held.ok()) return held.status();
  for (uint64_t id : *held) audited_.try_emplace(id, AuditedWorkload{id, "", "(pinned)"});
  absl::Status first;
  for (auto it = audited_.begin(); it != audited_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    if (absl::Status st = kernel_.SetAudit(it->first, false); !st.ok()) {
      first.Update(st);
      ++it;
      continue;
    }
    Record("audit_off", it->second);
    it = audited_.erase(it);
  }
  for (auto& [id, w] : want) {
    if (auto cur = audited_.find(id); cur != audited_.end()) {
      cur->second = w;  // already audited in the kernel (a pinned entry gets its rule and path)
      continue;
    }
    if (absl::Status st = kernel_.SetAudit(id, true); !st.ok()) {
      first.Update(st);
      continue;
    }
    Record("audit_on", w);
    audited_[id] = w;
  }
  return first;
}

absl::Status RootAuditSync::Start() {
  inotify_ = UniqueFd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  stop_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!inotify_ || !stop_) return absl::UnavailableError(StrCat("inotify/eventfd: ", strerror(errno)));
  const std::string root = mount_ + root_rel_;
  if (inotify_add_watch(inotify_.get(), root.c_str(), IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_ONLYDIR) < 0)
    return absl::UnavailableError(StrCat("inotify_add_watch ", root, ": ", strerror(errno)));
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void RootAuditSync::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof(one));
  thread_.join();
}

void RootAuditSync::Run() {
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    int n = poll(fds, 2, static_cast<int>(rescan_ms_));
    if (n < 0 && errno == EINTR) continue;
    if (fds[1].revents) return;
    if (fds[0].revents) {
      alignas(inotify_event) char buf[8192];
      while (read(inotify_.get(), buf, sizeof(buf)) > 0) {
      }
    }
    if (absl::Status st = Reconcile(); !st.ok())
      log::Warn("audited workloads not reconciled", {{"error", std::string(st.message())}});
  }
}

std::vector<AuditedWorkload> RootAuditSync::Audited() const {
  std::lock_guard lock(mu_);
  std::vector<AuditedWorkload> out;
  for (const auto& [id, w] : audited_) out.push_back(w);
  return out;
}

void RootAuditSync::Record(std::string_view event, const AuditedWorkload& w) {
  Evidence::Fields f = {{"event", std::string(event)}, {"cgroup_id", std::to_string(w.cgroup_id)}};
  if (!w.path.empty()) f.emplace_back("path", w.path);
  if (!w.rule.empty()) f.emplace_back("rule", w.rule);
  // Evidence only: a full ledger never holds the kernel state back.
  if (auto st = evidence_.Append(Evidence::Kind::kWorkload, std::move(f)); !st.ok())
    log::Warn("WORKLOAD record not written", {{"error", std::string(st.status().message())}});
}

}  // namespace taogate::agent
