// Adopting pinned gate state of this format or migrating format 2, and
// writing the config (format rules: gate_format.h, tg_config). A config of
// any other size or format is refused, never half-adopted: a newer program
// over a map it misreads could open enforcement.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>

#include "gate_bpf.skel.h"
#include "gate_internal.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpf/gate_format.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {

absl::Status Refuse(const std::string& path, uint32_t size, uint32_t format) {
  return absl::FailedPreconditionError(StrCat(
      "pinned ", path, " is ", size, " bytes (format ", format, "): this agent adopts format ",
      TG_FORMAT_VERSION, " and migrates format 2, nothing else; detach the pinned gate first "
      "(taogatectl gate detach --pin-root DIR)"));
}

// Reads the pinned config at `path` (at most sizeof(tg_config) bytes; a
// format 2 value fills its first 48). *size = the map's value size.
absl::StatusOr<tg_config> ReadPinned(const std::string& path, uint32_t* size) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return ErrnoStatus(errno, "open pinned map " + path);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return ErrnoStatus(errno, "info " + path);
  *size = info.value_size;
  tg_config c{};
  if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 || info.max_entries != 1 ||
      info.value_size > sizeof(c)) {
    return Refuse(path, info.value_size, 0);
  }
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd.get(), &zero, &c) != 0) return ErrnoStatus(errno, "read " + path);
  return c;
}

}  // namespace

namespace internal {

absl::StatusOr<bool> PinnedConfigIsFormat2(const std::string& path) {
  if (access(path.c_str(), F_OK) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "stat " + path);
  }
  uint32_t size = 0;
  TG_ASSIGN_OR_RETURN(tg_config c, ReadPinned(path, &size));
  if (size == sizeof(tg_config)) return false;  // current layout; format checked after load
  // Format 0: a format 2 agent stopped between pinning and writing it.
  if (size == TG_FORMAT2_CONFIG_SIZE && (c.format == 2 || c.format == 0)) return true;
  return Refuse(path, size, c.format);
}

}  // namespace internal

// The config belongs to the governed root it was created for: refuse to
// adopt state that governs another subtree. Migration (format 2): the
// loaded program's fresh tg_config gets the pinned value (quarantine_all,
// kill_armed, counts...), then replaces the old pin by rename(2), so the pin
// always names a complete config; programs still attached keep the old map
// (same values) until their links are swapped.
absl::Status Gate::InstallConfig(const GateOptions& o) {
  std::string pin = StrCat(o.pin_root, "/maps/tg_config");
  int fd = bpf_map__fd(skel_->maps.tg_config);
  uint32_t zero = 0;
  tg_config cfg{};
  if (migrate_config_) {
    uint32_t size = 0;
    TG_ASSIGN_OR_RETURN(cfg, ReadPinned(pin, &size));
    if (size != TG_FORMAT2_CONFIG_SIZE || (cfg.format != 2 && cfg.format != 0)) {
      return Refuse(pin, size, cfg.format);
    }
  } else if (bpf_map_lookup_elem(fd, &zero, &cfg) != 0) {
    return ErrnoStatus(errno, "read tg_config");
  } else if (cfg.format != 0 && cfg.format != TG_FORMAT_VERSION) {
    return Refuse(pin, sizeof(cfg), cfg.format);
  }
  if (cfg.format != 0 && cfg.governed_root_id != governed_root_id_) {
    return absl::FailedPreconditionError(StrCat(
        "pinned gate under ", o.pin_root, " governs cgroup id ", cfg.governed_root_id, ", not ",
        o.governed_cgroup, " (id ", governed_root_id_, "); detach it first"));
  }
  if (migrate_config_) {
    cfg.pods = 0;
    cfg.audit_armed = 0;
    if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) != 0) return ErrnoStatus(errno, "migrate tg_config");
  }
  // One map update: mode and pods switch together for the next hook.
  TG_RETURN_IF_ERROR(WriteConfig([&](void* p) {
    auto* c = static_cast<tg_config*>(p);
    c->format = TG_FORMAT_VERSION;
    c->mode = static_cast<uint32_t>(o.mode);
    c->governed_root_id = governed_root_id_;
    c->governed_level = governed_level_;
    c->pods = o.pods ? 1 : 0;
  }));
  if (!migrate_config_) return absl::OkStatus();
  std::string tmp = pin + "_new";  // bpffs refuses names with dots
  unlink(tmp.c_str());
  if (bpf_obj_pin(fd, tmp.c_str()) != 0) return ErrnoStatus(errno, "pin " + tmp);
  if (rename(tmp.c_str(), pin.c_str()) != 0) {
    absl::Status err = ErrnoStatus(errno, StrCat("replace ", pin));
    unlink(tmp.c_str());
    return err;
  }
  migrate_config_ = false;
  return absl::OkStatus();
}

}  // namespace taogate::bpf
