// Workloads: the caller -> workload id rule in user space (the same rule as
// gate_workload.bpf.h) and the pods-mode map tg_workloads (gate_format.h).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "gate_bpf.skel.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

namespace fs = std::filesystem;

// The kind recorded for cgroup `id`, 0 if none (as workload_kind() in BPF).
uint32_t KindOf(int fd, uint64_t id) {
  tg_workload_val v{};
  return bpf_map_lookup_elem(fd, &id, &v) == 0 ? v.kind : 0;
}

// Deletes every grant whose key starts with cgroup_id; returns how many.
template <typename Key>
absl::StatusOr<size_t> DeleteGrantsOf(int fd, uint64_t cgroup_id) {
  std::vector<Key> mine;
  Key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (next.cgroup_id == cgroup_id) mine.push_back(next);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "iterate grants");
  size_t n = 0;
  for (const Key& k : mine) {
    if (bpf_map_delete_elem(fd, &k) == 0) {
      ++n;
    } else if (errno != ENOENT) {  // ENOENT: consumed by the kernel meanwhile
      return ErrnoStatus(errno, "delete grant");
    }
  }
  return n;
}

}  // namespace

absl::StatusOr<uint64_t> Gate::WorkloadIdOfPid(pid_t pid) const {
  if (!options_.pods) {
    TG_ASSIGN_OR_RETURN(std::string cg, WorkloadCgroupOfPid(pid, options_.governed_cgroup));
    return CgroupId(cg);
  }
  TG_ASSIGN_OR_RETURN(std::string cg, CgroupPathOfPid(pid));
  fs::path root = fs::path(options_.governed_cgroup).lexically_normal();
  fs::path rel = fs::path(cg).lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") {
    return absl::NotFoundError(StrCat("pid ", pid, " (", cg, ") is not below ", root.string()));
  }
  std::vector<fs::path> parts;
  for (const fs::path& p : rel) {
    if (!p.empty() && p != ".") parts.push_back(p);
  }
  int fd = bpf_map__fd(skel_->maps.tg_workloads);
  fs::path workload = root;
  uint32_t kind = TG_WORKLOAD_NESTED;
  uint64_t id = 0;
  // Level L+1, and L+2 below a NESTED (QoS) cgroup.
  for (size_t i = 0; i < 2 && kind == TG_WORKLOAD_NESTED; ++i) {
    if (i >= parts.size()) {
      return absl::FailedPreconditionError(
          StrCat("pid ", pid, " is directly in ", workload.string(),
                 ": governed, but no workload cgroup a grant could name"));
    }
    workload /= parts[i];
    TG_ASSIGN_OR_RETURN(id, CgroupId(workload.string()));
    kind = KindOf(fd, id);
  }
  if (kind == TG_WORKLOAD_UNGOVERNED) {
    return absl::NotFoundError(StrCat("pid ", pid, " is in ungoverned pod ", workload.string()));
  }
  return id;
}

absl::Status Gate::SetWorkload(uint64_t cgroup_id, WorkloadKind kind, uint32_t pod_index) {
  if (!options_.pods) return absl::FailedPreconditionError("SetWorkload needs a gate in pods mode");
  if (cgroup_id == 0) return absl::InvalidArgumentError("workload cgroup id 0");
  if (kind != WorkloadKind::kGoverned && kind != WorkloadKind::kUngoverned &&
      kind != WorkloadKind::kNested) {
    return absl::InvalidArgumentError(StrCat("unknown workload kind ", static_cast<uint32_t>(kind)));
  }
  tg_workload_val v{static_cast<uint32_t>(kind), pod_index};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.tg_workloads), &cgroup_id, &v, BPF_ANY) != 0) {
    return ErrnoStatus(errno, StrCat("set workload ", cgroup_id));
  }
  return absl::OkStatus();
}

absl::Status Gate::RemoveWorkload(uint64_t cgroup_id) {
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_workloads), &cgroup_id) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(StrCat("no workload entry for ", cgroup_id));
    return ErrnoStatus(errno, StrCat("remove workload ", cgroup_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<uint64_t, WorkloadKind>> Gate::Workloads() const {
  int fd = bpf_map__fd(skel_->maps.tg_workloads);
  std::map<uint64_t, WorkloadKind> out;
  uint64_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    tg_workload_val v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) out[next] = static_cast<WorkloadKind>(v.kind);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "iterate tg_workloads");
  return out;
}

// Audit mode ends first, grants next and the quarantine last, so a pod that is still running
// (a caller's mistake) is never looser on the way than before or after.
absl::StatusOr<size_t> Gate::ForgetWorkload(uint64_t cgroup_id) {
  TG_RETURN_IF_ERROR(SetAuditWorkload(cgroup_id, false));  // enforced from here on
  TG_ASSIGN_OR_RETURN(size_t n, DeleteGrantsOf<tg_grant_key>(bpf_map__fd(skel_->maps.tg_grants), cgroup_id));
  TG_ASSIGN_OR_RETURN(size_t u, DeleteGrantsOf<tg_unix_grant_key>(
                                    bpf_map__fd(skel_->maps.tg_unix_grants), cgroup_id));
  n += u;
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_workloads), &cgroup_id) == 0) {
    ++n;
  } else if (errno != ENOENT) {
    return ErrnoStatus(errno, StrCat("forget workload ", cgroup_id));
  }
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.tg_quarantine), &cgroup_id) == 0) {
    ++n;
    TG_RETURN_IF_ERROR(RecomputeFlags());  // as Release: quarantine_armed, on-demand hooks
  } else if (errno != ENOENT) {
    return ErrnoStatus(errno, StrCat("release ", cgroup_id));
  }
  return n;
}

}  // namespace taogate::bpf
