// Gate lifecycle: open -> reuse pinned maps -> load -> write config ->
// attach (or swap into pinned links) -> pin. Teardown order in ~Gate: ring
// buffer, link objects (fds only; pinned links stay attached), skeleton.
#include "taogate/bpf/gate.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "gate_bpf.skel.h"
#include "gate_internal.h"
#include "hooks.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

namespace fs = std::filesystem;
using internal::AttachKind;
using internal::HookDef;
using internal::kHooks;

constexpr long kBpfFsMagic = 0xcafe4a11;

bool g_verbose = false;
__attribute__((format(printf, 2, 0))) int PrintLibbpf(enum libbpf_print_level level,
                                                      const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !g_verbose) return 0;
  if (level == LIBBPF_INFO && !g_verbose) return 0;
  return vfprintf(stderr, fmt, args);
}

bool IsBpfFs(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 && st.f_type == kBpfFsMagic;
}

absl::Status EnsureBpfFs(const GateOptions& o) {
  std::string parent = fs::path(o.pin_root).parent_path().string();
  if (parent.empty()) return absl::InvalidArgumentError("pin_root needs a parent directory");
  if (!IsBpfFs(parent)) {
    if (!o.mount_bpffs) {
      return absl::FailedPreconditionError(
          StrCat(parent, " is not a bpffs mount (mount -t bpf bpf ", parent, ")"));
    }
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (mount("bpf", parent.c_str(), "bpf", 0, "mode=0700") != 0) {
      return ErrnoStatus(errno, StrCat("mount bpffs on ", parent));
    }
  }
  for (const std::string& d : {o.pin_root, o.pin_root + "/maps", o.pin_root + "/links"}) {
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + d);
  }
  return absl::OkStatus();
}

// Does this kernel know the unix-socket cgroup attach types (6.7+)?
bool KernelHasUnixHooks() {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  bool found = false;
  int id = btf__find_by_name_kind(vmlinux, "bpf_attach_type", BTF_KIND_ENUM);
  if (id > 0) {
    const struct btf_type* t = btf__type_by_id(vmlinux, id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); ++i) {
      if (std::strcmp(btf__name_by_offset(vmlinux, e[i].name_off), "BPF_CGROUP_UNIX_CONNECT") ==
          0) {
        found = static_cast<uint32_t>(e[i].val) == internal::kAttachCgroupUnixConnect;
      }
    }
  }
  btf__free(vmlinux);
  return found;
}

// The optional kernel features some programs need, read once from the
// running kernel's BTF.
struct KernelFeatures {
  bool cap_tracepoint = false;  // btf_trace_cap_capable
  bool kern_ctx = false;        // kfunc bpf_cast_to_kern_ctx
  bool send_signal_task = false;  // kfunc bpf_send_signal_task
};

const KernelFeatures& Features() {
  static const KernelFeatures f = [] {
    KernelFeatures k;
    struct btf* vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) return k;
    k.cap_tracepoint = btf__find_by_name_kind(vmlinux, "btf_trace_cap_capable", BTF_KIND_TYPEDEF) > 0;
    k.kern_ctx = btf__find_by_name_kind(vmlinux, "bpf_cast_to_kern_ctx", BTF_KIND_FUNC) > 0;
    k.send_signal_task = btf__find_by_name_kind(vmlinux, "bpf_send_signal_task", BTF_KIND_FUNC) > 0;
    btf__free(vmlinux);
    return k;
  }();
  return f;
}

// Why a program this kernel cannot load is left out (nullptr: it can).
// The root-attached hooks read the socket's cgroup through
// bpf_cast_to_kern_ctx and cgroup->ancestors[] (both 6.2+); the escape
// hooks kill another task with bpf_send_signal_task (6.13+).
const char* MissingKernelFeature(const HookDef& h) {
  if (std::strcmp(h.prog, "tg_cap_capable") == 0 && !Features().cap_tracepoint) {
    return "kernel lacks the cap_capable tracepoint: governed AF_PACKET/AF_XDP sockets are "
           "killed only with syscall_hook_always (native socket() only), else not covered";
  }
  if (h.kind == AttachKind::kCgroupRoot && !Features().kern_ctx) {
    return "kernel lacks bpf_cast_to_kern_ctx (needs 6.2+): sockets created outside the "
           "governed tree and handed in are not gated";
  }
  if (std::strncmp(h.prog, "tg_escape_", 10) == 0 && !Features().send_signal_task) {
    return "kernel lacks bpf_send_signal_task (needs 6.13+): a governed process can leave the "
           "governed tree unnoticed";
  }
  return nullptr;
}

std::string LinkPath(const std::string& pin_root, const char* name) {
  return StrCat(pin_root, "/links/", name);
}

}  // namespace

struct Gate::Link {
  std::string name;
  bpf_link* link = nullptr;
  ~Link() {
    if (link) bpf_link__destroy(link);  // closes our fd; a pinned link stays attached
  }
};

Gate::~Gate() {
  if (ring_) ring_buffer__free(ring_);
  links_.clear();
  if (skel_) gate_bpf::destroy(skel_);
}

absl::StatusOr<std::unique_ptr<Gate>> Gate::OpenOrAdopt(const GateOptions& options) {
  if (options.governed_cgroup.empty()) {
    return absl::InvalidArgumentError("GateOptions.governed_cgroup is required");
  }
  g_verbose = options.verbose;
  libbpf_set_print(PrintLibbpf);
  std::unique_ptr<Gate> gate(new Gate());
  gate->options_ = options;
  TG_ASSIGN_OR_RETURN(gate->governed_root_id_, CgroupId(options.governed_cgroup));
  TG_ASSIGN_OR_RETURN(gate->governed_level_, CgroupLevel(options.governed_cgroup));
  TG_RETURN_IF_ERROR(EnsureBpfFs(options));
  TG_RETURN_IF_ERROR(gate->Load(options));
  TG_RETURN_IF_ERROR(gate->AttachAll());
  if (bpf_program__autoload(gate->skel_->progs.tg_escape_attach)) {
    TG_RETURN_IF_ERROR(internal::MarkGovernedTasks(
        *gate, bpf_map__fd(gate->skel_->maps.tg_governed_tasks), options.governed_cgroup));
  }
  gate->ring_ = ring_buffer__new(bpf_map__fd(gate->skel_->maps.tg_events),
                                 &internal::OnRingRecord, &gate->poll_fn_, nullptr);
  if (!gate->ring_) return ErrnoStatus(errno, "ring_buffer__new");
  return gate;
}

absl::Status Gate::Load(const GateOptions& o) {
  absl::Status st = LoadOnce(o, o.file_hooks);
  if (!st.ok()) {
    if (!o.file_hooks) return st;
    // The file fallback is optional: a kernel whose verifier refuses it must
    // still get network enforcement. ProtectInode then fails (fail closed).
    gate_bpf::destroy(skel_);
    skel_ = nullptr;
    if (!LoadOnce(o, false).ok()) return st;
    file_hooks_error_ = std::string(st.message());
  }
  return FinishLoad(o);
}

// Opens the skeleton, reuses pinned maps and loads the programs.
absl::Status Gate::LoadOnce(const GateOptions& o, bool file_hooks) {
  adopted_ = false;
  skel_ = gate_bpf::open();
  if (!skel_) return ErrnoStatus(errno, "open BPF skeleton");
  bpf_map__set_max_entries(skel_->maps.tg_grants, o.max_grants);
  bpf_map__set_max_entries(skel_->maps.tg_targets4, o.max_targets);
  bpf_map__set_max_entries(skel_->maps.tg_targets6, o.max_targets);
  // Reuse pinned maps: this is what carries grants, targets and quarantine
  // across agent restarts and upgrades. A format 2 config is not reused
  // (its layout is shorter) but migrated by InstallConfig.
  TG_ASSIGN_OR_RETURN(migrate_config_,
                      internal::PinnedConfigIsFormat2(StrCat(o.pin_root, "/maps/tg_config")));
  adopted_ = migrate_config_;
  struct bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;
    if (migrate_config_ && map == skel_->maps.tg_config) continue;
    std::string path = StrCat(o.pin_root, "/maps/", bpf_map__name(map));
    UniqueFd fd(bpf_obj_get(path.c_str()));
    if (!fd) {
      if (errno == ENOENT) continue;
      return ErrnoStatus(errno, "open pinned map " + path);
    }
    if (int err = bpf_map__reuse_fd(map, fd.get()); err != 0) {
      return ErrnoStatus(-err, "adopt pinned map " + path);
    }
    adopted_ = true;
  }
  bool unix_ok = KernelHasUnixHooks();
  for (const HookDef& h : kHooks) {
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, h.prog);
    if (!prog) return absl::InternalError(StrCat("program ", h.prog, " missing"));
    if (h.attach_type != 0) {
      bpf_program__set_type(prog, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
      bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(h.attach_type));
      if (!unix_ok) bpf_program__set_autoload(prog, false);
    }
    if (MissingKernelFeature(h)) bpf_program__set_autoload(prog, false);
    if (h.demand == internal::Demand::kWhileInodesProtected && !file_hooks) {
      bpf_program__set_autoload(prog, false);
    }
  }
  if (int err = gate_bpf::load(skel_); err != 0) {
    return ErrnoStatus(-err, "load BPF programs (run with verbose for the verifier log)");
  }
  return absl::OkStatus();
}

// Pins new maps and writes the config of a loaded gate (gate_adopt.cc).
absl::Status Gate::FinishLoad(const GateOptions& o) {
  struct bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;
    std::string path = StrCat(o.pin_root, "/maps/", bpf_map__name(map));
    if (access(path.c_str(), F_OK) == 0) continue;
    if (int err = bpf_map__pin(map, path.c_str()); err != 0) {
      return ErrnoStatus(-err, "pin map " + path);
    }
  }
  return InstallConfig(o);
}

// Attaches every loaded program except an on-demand sys_enter (see
// GateOptions::syscall_hook_always).
absl::Status Gate::AttachAll() {
  tg_config c{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tg_config), &zero, &c) != 0) {
    return ErrnoStatus(errno, "read tg_config");
  }
  std::lock_guard<std::mutex> lock(links_mu_);
  for (const HookDef& h : kHooks) {
    hooks_.push_back({h.name, HookState::kAbsent, ""});
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, h.prog);
    if (!bpf_program__autoload(prog)) {
      if (h.attach_type == 0 && MissingKernelFeature(h)) {
        hooks_.back().detail = MissingKernelFeature(h);
      } else if (h.demand != internal::Demand::kWhileInodesProtected) {
        hooks_.back().detail = "kernel lacks this attach type (needs 6.7+)";
      } else if (!options_.file_hooks) {
        hooks_.back().detail = "disabled (GateOptions.file_hooks = false): protected files unenforced";
      } else {
        hooks_.back().detail =
            StrCat("failed to load on this kernel, protected files unenforced: ", file_hooks_error_);
      }
      continue;
    }
    internal::DemandState want{c.quarantine_armed || c.quarantine_all != 0, c.kill_armed != 0,
                               c.inodes_protected != 0};
    if (!Wanted(h, want)) {
      TG_RETURN_IF_ERROR(DetachHookLocked(h));  // adopt: drop a stale one
      continue;
    }
    TG_RETURN_IF_ERROR(AttachHookLocked(h));
  }
  return absl::OkStatus();
}

bool Gate::Wanted(const HookDef& h, const internal::DemandState& s) const {
  switch (h.demand) {
    case internal::Demand::kAlways: return true;
    case internal::Demand::kWhileQuarantined: return s.quarantined;
    case internal::Demand::kWhileKillArmed: return s.kill_armed || options_.syscall_hook_always;
    case internal::Demand::kWhileInodesProtected: return s.inodes;
  }
  return true;
}

HookStatus* Gate::StatusLocked(const char* name) {
  for (HookStatus& st : hooks_) {
    if (st.name == name) return &st;
  }
  return nullptr;
}

// Attaches one hook. A pinned link gets the new program swapped in
// atomically (cgroup links); otherwise (none pinned, or a tracing link, which
// cannot be updated) a new link is attached and pinned before the old one is
// removed, so some version of the hook enforces at every instant.
absl::Status Gate::AttachHookLocked(const HookDef& h) {
  HookStatus* st = StatusLocked(h.name);
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, h.prog);
  std::string path = LinkPath(options_.pin_root, h.name);
  if (!bpf_program__autoload(prog)) return absl::OkStatus();  // not loaded: stays absent, says why
  for (auto& l : links_) {
    if (l->name == h.name) return absl::OkStatus();  // already attached by us
  }
  auto link = std::make_unique<Link>();
  link->name = h.name;
  bool swapped = false;
  if (access(path.c_str(), F_OK) == 0) {
    link->link = bpf_link__open(path.c_str());
    swapped = link->link && bpf_link__update_program(link->link, prog) == 0;
  }
  if (!swapped) {
    std::string where = options_.governed_cgroup;
    if (h.kind == AttachKind::kCgroupRoot) {
      TG_ASSIGN_OR_RETURN(where, Cgroup2Mount());
    }
    UniqueFd cg(open(where.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg) return ErrnoStatus(errno, "open " + where);
    bpf_link* fresh = h.kind == AttachKind::kTracing ? bpf_program__attach_trace(prog)
                                                     : bpf_program__attach_cgroup(prog, cg.get());
    if (!fresh) {
      int err = errno;
      st->detail = StrCat("attach failed: ", std::strerror(err));
      if (h.required) return ErrnoStatus(err, StrCat("attach ", h.name));
      return absl::OkStatus();  // reported absent (old link, if any, keeps running)
    }
    std::string tmp = path + "_new";  // bpffs refuses names with dots
    unlink(tmp.c_str());
    if (int err = bpf_link__pin(fresh, tmp.c_str()); err != 0) {
      bpf_link__destroy(fresh);
      return ErrnoStatus(-err, "pin link " + tmp);
    }
    if (link->link) {  // retire the old link only now that the new one runs
      bpf_link__detach(link->link);
      bpf_link__destroy(link->link);
      unlink(path.c_str());
    }
    bpf_link__unpin(fresh);
    if (int err = bpf_link__pin(fresh, path.c_str()); err != 0) {
      bpf_link__destroy(fresh);
      return ErrnoStatus(-err, "pin link " + path);
    }
    link->link = fresh;
  }
  st->state = h.degraded ? HookState::kDegraded : HookState::kEnforcing;
  st->detail = h.degraded ? h.degraded : "";
  links_.push_back(std::move(link));
  return absl::OkStatus();
}

absl::Status Gate::DetachHookLocked(const HookDef& h) {
  const char* name = h.name;
  std::string path = LinkPath(options_.pin_root, name);
  for (auto it = links_.begin(); it != links_.end(); ++it) {
    if ((*it)->name == name) {
      links_.erase(it);  // closes our fd
      break;
    }
  }
  // Tracing links have no BPF_LINK_DETACH: removing the pin (with our fd
  // closed) releases them.
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (fd) (void)bpf_link_detach(fd.get());  // tracing links refuse; the unlink below decides
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "unpin " + path);
  HookStatus* st = StatusLocked(name);
  if (st && bpf_program__autoload(bpf_object__find_program_by_name(skel_->obj, h.prog))) {
    st->state = HookState::kAbsent;
    st->detail = internal::OnDemandNote(h.demand);  // a never-loaded hook keeps its reason
  }
  return absl::OkStatus();
}

// Attaches (attach=true) the on-demand hooks the state needs, or drops
// (attach=false) those it no longer needs. Callers attach before arming and
// drop after disarming, so an armed quarantine always has its hooks.
absl::Status Gate::SyncOnDemandHooks(const internal::DemandState& s, bool attach) {
  std::lock_guard<std::mutex> lock(links_mu_);
  for (const HookDef& h : kHooks) {
    if (h.demand == internal::Demand::kAlways) continue;
    bool want = Wanted(h, s);
    if (attach && want) TG_RETURN_IF_ERROR(AttachHookLocked(h));
    if (!attach && !want) TG_RETURN_IF_ERROR(DetachHookLocked(h));
  }
  return absl::OkStatus();
}

absl::Status Gate::Detach(const std::string& pin_root) {
  std::error_code ec;
  absl::Status first = absl::OkStatus();
  for (const auto& e : fs::directory_iterator(pin_root + "/links", ec)) {
    std::string p = e.path().string();
    UniqueFd fd(bpf_obj_get(p.c_str()));
    // Tracing links have no BPF_LINK_DETACH; they go when the pin is removed
    // and no process holds them.
    if (fd && bpf_link_detach(fd.get()) != 0 && errno != EOPNOTSUPP && errno != EINVAL &&
        first.ok()) {
      first = ErrnoStatus(errno, "detach " + p);
    }
    if (unlink(p.c_str()) != 0 && first.ok()) first = ErrnoStatus(errno, "unlink " + p);
  }
  for (const auto& e : fs::directory_iterator(pin_root + "/maps", ec)) {
    if (unlink(e.path().c_str()) != 0 && first.ok()) first = ErrnoStatus(errno, "unlink map");
  }
  rmdir((pin_root + "/links").c_str());
  rmdir((pin_root + "/maps").c_str());
  rmdir(pin_root.c_str());
  return first;
}

}  // namespace taogate::bpf
