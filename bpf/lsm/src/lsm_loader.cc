#include "taogate/bpflsm/lsm_loader.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "lsm_gate.skel.h"
#include "taogate/common/status.h"

namespace taogate::bpflsm {
namespace {

bool g_libbpf_debug = false;
bool g_libbpf_quiet = false;

__attribute__((format(printf, 2, 0))) int LibbpfPrint(enum libbpf_print_level level,
                                                     const char* fmt, va_list args) {
  if (g_libbpf_quiet || (level == LIBBPF_DEBUG && !g_libbpf_debug)) return 0;
  return vfprintf(stderr, fmt, args);
}

// libbpf returns -errno (and sets errno) on failure.
absl::Status LibbpfStatus(int rc, const std::string& what) {
  if (rc >= 0) return absl::OkStatus();
  return ErrnoStatus(-rc, what);
}

// Arity of bpf_lsm_bpf (the security_bpf hook) in the running kernel's BTF.
absl::StatusOr<uint32_t> BpfHookArity() {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return ErrnoStatus(errno, "load kernel BTF (/sys/kernel/btf/vmlinux)");
  absl::StatusOr<uint32_t> result = absl::NotFoundError("no bpf_lsm_bpf in kernel BTF");
  int id = btf__find_by_name_kind(vmlinux, "bpf_lsm_bpf", BTF_KIND_FUNC);
  if (id > 0) {
    const struct btf_type* func = btf__type_by_id(vmlinux, id);
    const struct btf_type* proto = func ? btf__type_by_id(vmlinux, func->type) : nullptr;
    if (proto && btf_is_func_proto(proto)) result = static_cast<uint32_t>(btf_vlen(proto));
  }
  btf__free(vmlinux);
  return result;
}

std::string ActiveLsms() {
  std::ifstream in("/sys/kernel/security/lsm");
  if (!in) return "unknown (securityfs not mounted)";
  std::string s((std::istreambuf_iterator<char>(in)), {});
  return s;
}

struct NamedLink {
  std::string name;
  bpf_link* link;
};

// Every attached program's link (programs not loaded have none).
std::vector<NamedLink> Links(lsm_gate* s) {
  std::vector<NamedLink> links;
  for (int i = 0; i < s->skeleton->prog_cnt; ++i) {
    bpf_link* link = *s->skeleton->progs[i].link;
    if (link) links.push_back({s->skeleton->progs[i].name, link});
  }
  return links;
}

// Hooks without which Load() fails; the others are optional and reported.
bool CoreHook(const std::string& hook) {
  return hook == "file_open" || hook == "bprm_check_security" ||
         hook == "task_kill" || hook == "ptrace_access_check" || hook == "bpf" ||
         hook == "task_alloc";
}

std::vector<bpf_map*> PinnedMaps(lsm_gate* s) {
  return {s->maps.tg_governed,   s->maps.tg_lsm_cfg,    s->maps.tg_inodes,
          s->maps.tg_agent_pids, s->maps.tg_lsm_events, s->maps.tg_lsm_stats};
}

int OnEvent(void* ctx, void* data, size_t size) {
  if (size < sizeof(bpf::tg_lsm_event)) return 0;  // malformed: drop
  auto* out = static_cast<std::vector<bpf::tg_lsm_event>*>(ctx);
  bpf::tg_lsm_event e;
  std::memcpy(&e, data, sizeof(e));
  out->push_back(e);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LsmGate>> LsmGate::Load(const Options& options) {
  g_libbpf_debug = options.libbpf_debug;
  g_libbpf_quiet = options.quiet;
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<LsmGate> gate(new LsmGate());
  TG_ASSIGN_OR_RETURN(gate->bpf_hook_nargs_, BpfHookArity());
  if (gate->bpf_hook_nargs_ != 3 && gate->bpf_hook_nargs_ != 4) {
    return absl::FailedPreconditionError("unsupported security_bpf arity");
  }
  gate->skel_ = lsm_gate__open();
  if (!gate->skel_) return ErrnoStatus(errno, "open lsm_gate skeleton");
  TG_RETURN_IF_ERROR(gate->SelectPrograms());
  int rc = lsm_gate__load(gate->skel_);
  if (rc < 0) {
    return LibbpfStatus(rc, "load BPF LSM programs (kernel needs BPF LSM: `bpf` in lsm=, "
                            "active: " + ActiveLsms() + ")");
  }
  TG_RETURN_IF_ERROR(LibbpfStatus(lsm_gate__attach(gate->skel_), "attach BPF LSM programs"));
  gate->events_ = ring_buffer__new(bpf_map__fd(gate->skel_->maps.tg_lsm_events), OnEvent,
                                   &gate->pending_, nullptr);
  if (!gate->events_) return ErrnoStatus(errno, "ring buffer tg_lsm_events");
  return gate;
}

LsmGate::~LsmGate() {
  // Order: the ring buffer reads a map of the skeleton, so it goes first;
  // destroying the skeleton then closes links (detach unless pinned), progs, maps.
  if (events_) ring_buffer__free(events_);
  if (skel_) lsm_gate__destroy(skel_);
}

absl::Status LsmGate::UpdateLevels() {
  bpf::tg_lsm_config cfg{};
  for (const auto& [id, level] : governed_) {
    if (level < TG_LSM_MAX_CGROUP_LEVEL) cfg.governed_levels |= 1u << level;
  }
  uint32_t zero = 0;
  return LibbpfStatus(bpf_map__update_elem(skel_->maps.tg_lsm_cfg, &zero, sizeof(zero), &cfg,
                                           sizeof(cfg), BPF_ANY),
                      "update tg_lsm_cfg");
}

// Fails if `id` is this process's own cgroup or one of its ancestors:
// governing it would deny the agent its own bpf() and signals (and
// governing the root cgroup would govern the whole host).
static absl::Status RefuseOwnCgroup(uint64_t id) {
  TG_ASSIGN_OR_RETURN(std::string mount, FindCgroup2Mount());
  std::ifstream in("/proc/self/cgroup");
  std::string line, own;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  if (own.empty()) return absl::FailedPreconditionError("no cgroup v2 entry in /proc/self/cgroup");
  for (size_t end = 0; end != std::string::npos;) {
    end = own.find('/', end + 1);
    std::string dir = mount + own.substr(0, end == std::string::npos ? own.size() : end);
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + dir);
    if (st.st_ino == id || stat(mount.c_str(), &st) != 0 || st.st_ino == id) {
      return absl::FailedPreconditionError(
          "refusing to govern the agent's own cgroup or an ancestor of it (" + dir + ")");
    }
  }
  return absl::OkStatus();
}

absl::Status LsmGate::Govern(const CgroupRef& cgroup) {
  if (cgroup.id == 0) return absl::InvalidArgumentError("cgroup id 0");
  if (cgroup.level == 0) return absl::InvalidArgumentError("refusing to govern the root cgroup");
  TG_RETURN_IF_ERROR(RefuseOwnCgroup(cgroup.id));
  if (cgroup.level >= TG_LSM_MAX_CGROUP_LEVEL) {
    // Its own id still matches, but tasks in its descendants would not.
    return absl::OutOfRangeError("governed cgroup deeper than TG_LSM_MAX_CGROUP_LEVEL");
  }
  bpf::tg_governed_value v{cgroup.level, 0};
  TG_RETURN_IF_ERROR(LibbpfStatus(bpf_map__update_elem(skel_->maps.tg_governed, &cgroup.id,
                                                       sizeof(cgroup.id), &v, sizeof(v), BPF_ANY),
                                  "update tg_governed"));
  governed_.emplace_back(cgroup.id, cgroup.level);
  return UpdateLevels();
}

absl::Status LsmGate::Ungovern(uint64_t cgroup_id) {
  TG_RETURN_IF_ERROR(LibbpfStatus(
      bpf_map__delete_elem(skel_->maps.tg_governed, &cgroup_id, sizeof(cgroup_id), 0),
      "delete from tg_governed"));
  std::erase_if(governed_, [&](const auto& g) { return g.first == cgroup_id; });
  return UpdateLevels();
}

absl::Status LsmGate::ProtectInode(const bpf::tg_inode_key& key, uint32_t deny, bool subtree) {
  bpf::tg_inode_val v{deny, subtree ? static_cast<uint32_t>(bpf::TG_INODE_SUBTREE) : 0u};
  return LibbpfStatus(
      bpf_map__update_elem(skel_->maps.tg_inodes, &key, sizeof(key), &v, sizeof(v), BPF_ANY),
      "update tg_inodes");
}

absl::Status LsmGate::UnprotectInode(const bpf::tg_inode_key& key) {
  return LibbpfStatus(bpf_map__delete_elem(skel_->maps.tg_inodes, &key, sizeof(key), 0),
                      "delete from tg_inodes");
}

absl::Status LsmGate::ProtectPid(pid_t tgid) {
  uint32_t key = static_cast<uint32_t>(tgid), v = 0;
  return LibbpfStatus(bpf_map__update_elem(skel_->maps.tg_agent_pids, &key, sizeof(key), &v,
                                           sizeof(v), BPF_ANY),
                      "update tg_agent_pids");
}

absl::Status LsmGate::Pin(const std::string& dir) {
  for (const NamedLink& l : Links(skel_)) {
    TG_RETURN_IF_ERROR(LibbpfStatus(bpf_link__pin(l.link, (dir + "/link_" + l.name).c_str()),
                                    "pin link " + l.name));
  }
  for (bpf_map* m : PinnedMaps(skel_)) {
    std::string path = dir + "/map_" + bpf_map__name(m);
    TG_RETURN_IF_ERROR(LibbpfStatus(bpf_map__pin(m, path.c_str()), "pin " + path));
  }
  return absl::OkStatus();
}

absl::Status LsmGate::Unpin(const std::string& dir) {
  absl::Status first;
  for (const char* prefix : {"link_tg_", "map_tg_"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename();
      if (name.rfind(prefix, 0) != 0) continue;
      if (unlink(entry.path().c_str()) != 0 && errno != ENOENT && first.ok()) {
        first = ErrnoStatus(errno, "unlink " + entry.path().string());
      }
    }
    if (ec && first.ok()) first = ErrnoStatus(ec.value(), "list " + dir);
  }
  return first;
}

absl::Status LsmGate::SelectPrograms() {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return ErrnoStatus(errno, "load kernel BTF (/sys/kernel/btf/vmlinux)");
  absl::Status status;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    std::string name = bpf_program__name(prog);
    std::string section = bpf_program__section_name(prog);
    std::string hook = section.rfind("lsm/", 0) == 0 ? section.substr(4) : section;
    bool present =
        btf__find_by_name_kind(vmlinux, ("bpf_lsm_" + hook).c_str(), BTF_KIND_FUNC) > 0;
    HookStatus hs{name, hook, present, present ? "" : "kernel has no bpf_lsm_" + hook};
    if (name == "tg_bpf3" || name == "tg_bpf4") {
      // Exactly one of the two security_bpf programs matches this kernel.
      bool mine = (name == "tg_bpf3") == (bpf_hook_nargs_ == 3);
      if (!mine) continue;  // not loaded, not reported
    }
    bpf_program__set_autoload(prog, hs.enforcing);
    if (!hs.enforcing && CoreHook(hook) && status.ok()) {
      status = absl::FailedPreconditionError(hs.detail);
    }
    hooks_.push_back(hs);
  }
  if (bpf_hook_nargs_ == 3) bpf_program__set_autoload(skel_->progs.tg_bpf4, false);
  if (bpf_hook_nargs_ == 4) bpf_program__set_autoload(skel_->progs.tg_bpf3, false);
  btf__free(vmlinux);
  return status;
}

absl::StatusOr<std::vector<bpf::tg_lsm_event>> LsmGate::PollEvents(int timeout_ms) {
  pending_.clear();
  int rc = ring_buffer__poll(events_, timeout_ms);
  if (rc < 0 && rc != -EINTR) return ErrnoStatus(-rc, "poll tg_lsm_events");
  return std::move(pending_);
}

absl::StatusOr<LsmStats> LsmGate::ReadStats() {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus(-ncpu, "possible cpus");
  uint64_t sum[bpf::TG_LSM_STAT_MAX] = {};
  std::vector<uint64_t> per_cpu(ncpu);
  for (uint32_t i = 0; i < bpf::TG_LSM_STAT_MAX; ++i) {
    TG_RETURN_IF_ERROR(LibbpfStatus(
        bpf_map__lookup_elem(skel_->maps.tg_lsm_stats, &i, sizeof(i), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0),
        "lookup tg_lsm_stats"));
    for (uint64_t v : per_cpu) sum[i] += v;
  }
  return LsmStats{sum[bpf::TG_LSM_STAT_DENY], sum[bpf::TG_LSM_STAT_EVENT_DROPPED]};
}

LsmProbe ProbeLsm() {
  LsmProbe probe;
  std::ifstream in("/sys/kernel/security/lsm");
  if (in) {
    probe.active_lsms.assign(std::istreambuf_iterator<char>(in), {});
    std::string padded = "," + probe.active_lsms + ",";
    probe.bpf_lsm_active = padded.find(",bpf,") != std::string::npos;
  }
  LsmGate::Options quiet;
  quiet.quiet = true;
  auto gate = LsmGate::Load(quiet);
  probe.attach_ok = gate.ok();
  if (!gate.ok()) probe.detail = std::string(gate.status().message());
  if (gate.ok()) probe.hooks = (*gate)->hooks();
  return probe;
}

}  // namespace taogate::bpflsm
