// Protected inodes: the kill-on-open / kill-on-exec fallback's map
// (tg_inodes, gate_format.h) and the on-demand attachment of its three global
// tracing hooks (open, exec, fork). Order keeps enforcement fail-closed: the hooks are attached
// before the first entry goes in, and detached only after the last is gone.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "gate_bpf.skel.h"
#include "hooks.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

struct InodeCounts {
  uint32_t total = 0;
  uint32_t subtree = 0;
};

absl::StatusOr<InodeCounts> CountEntries(int fd) {
  tg_inode_key key{}, next{};
  const void* prev = nullptr;
  InodeCounts n;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    tg_inode_val v{};
    ++n.total;
    // A lookup failure (entry just deleted) counts as subtree: the count
    // may only err towards walking more.
    if (bpf_map_lookup_elem(fd, &next, &v) != 0 || (v.flags & TG_INODE_SUBTREE)) ++n.subtree;
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "iterate tg_inodes");
  return n;
}

void SetCounts(void* p, const InodeCounts& n) {
  auto* c = static_cast<tg_config*>(p);
  c->inodes_protected = n.total;
  c->inodes_subtree = n.subtree;
}

}  // namespace

absl::StatusOr<size_t> Gate::ProtectedInodeCount() {
  TG_ASSIGN_OR_RETURN(InodeCounts n, CountEntries(bpf_map__fd(skel_->maps.tg_inodes)));
  return n.total;
}

absl::StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> Gate::ProtectedInodes() {
  int fd = bpf_map__fd(skel_->maps.tg_inodes);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  tg_inode_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    out.emplace_back(next.dev, next.ino);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "iterate tg_inodes");
  return out;
}

absl::Status Gate::ProtectInode(uint64_t kdev, uint64_t ino, uint32_t deny, bool subtree) {
  if ((deny & (TG_DENY_READ | TG_DENY_WRITE | TG_DENY_EXEC)) == 0) {
    return absl::InvalidArgumentError("ProtectInode needs TG_DENY_READ, TG_DENY_WRITE or TG_DENY_EXEC");
  }
  if (ino == 0) return absl::InvalidArgumentError("inode number 0");
  std::lock_guard<std::mutex> lock(demand_mu_);
  // Attach first; a protected inode without its hooks would be a silent gap.
  TG_RETURN_IF_ERROR(SyncOnDemandHooks(internal::DemandState{false, false, true}, true));
  {
    std::lock_guard<std::mutex> links_lock(links_mu_);
    for (const char* name : {"file_open", "exec", "fork"}) {
      HookStatus* st = StatusLocked(name);
      if (st == nullptr || st->state == HookState::kAbsent) {
        return absl::FailedPreconditionError(
            StrCat("cannot enforce protected files: hook ", name, " not attached (",
                   st ? st->detail : "unknown", ")"));
      }
    }
  }
  int fd = bpf_map__fd(skel_->maps.tg_inodes);
  tg_inode_key k{kdev, ino};
  tg_inode_val v{deny, subtree ? static_cast<uint32_t>(TG_INODE_SUBTREE) : 0u};
  // The programs act only while inodes_protected > 0 and walk parents only
  // while inodes_subtree > 0: raise both before the entry goes in (a program
  // must never see an entry its counts say is absent) and recount exactly
  // afterwards.
  TG_RETURN_IF_ERROR(WriteConfig([&](void* p) {
    auto* c = static_cast<tg_config*>(p);
    c->inodes_protected += 1;
    if (subtree) c->inodes_subtree += 1;
  }));
  if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0) {
    absl::Status err = ErrnoStatus(errno, StrCat("protect inode ", kdev, ":", ino));
    // Recounts after the failed insert; if that fails too, a count left high
    // only keeps the file hooks attached (fail closed). The insert's error wins.
    if (auto n = CountEntries(fd); n.ok()) (void)WriteConfig([&](void* p) { SetCounts(p, *n); });
    return err;
  }
  TG_ASSIGN_OR_RETURN(InodeCounts n, CountEntries(fd));
  return WriteConfig([&](void* p) { SetCounts(p, n); });
}

absl::Status Gate::UnprotectInode(uint64_t kdev, uint64_t ino) {
  std::lock_guard<std::mutex> lock(demand_mu_);
  int fd = bpf_map__fd(skel_->maps.tg_inodes);
  tg_inode_key k{kdev, ino};
  absl::Status result = absl::OkStatus();
  if (bpf_map_delete_elem(fd, &k) != 0) {
    if (errno != ENOENT) return ErrnoStatus(errno, StrCat("unprotect inode ", kdev, ":", ino));
    result = absl::NotFoundError(StrCat("inode ", kdev, ":", ino, " is not protected"));
  }
  TG_ASSIGN_OR_RETURN(InodeCounts n, CountEntries(fd));
  TG_RETURN_IF_ERROR(WriteConfig([&](void* p) { SetCounts(p, n); }));
  if (n.total == 0) {
    tg_config c{};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tg_config), &zero, &c) != 0) {
      return ErrnoStatus(errno, "read tg_config");
    }
    internal::DemandState want{c.quarantine_armed || c.quarantine_all, c.kill_armed != 0, false};
    TG_RETURN_IF_ERROR(SyncOnDemandHooks(want, /*attach=*/false));
  }
  return result;
}

}  // namespace taogate::bpf
