// Probe: per hook enforcing / degraded (how) / absent, from what this Gate
// attached or from the links pinned in bpffs. Nothing is reported enforcing
// unless a link is attached.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hooks.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace taogate::bpf {
namespace {
using internal::AttachKind;
using internal::HookDef;
using internal::kHooks;

std::string LinkPath(const std::string& pin_root, const char* name) {
  return StrCat(pin_root, "/links/", name);
}
}  // namespace

ProbeReport Gate::ProbePinned(const std::string& pin_root) {
  ProbeReport r;
  for (const HookDef& h : kHooks) {
    HookStatus st{h.name, HookState::kAbsent,
                  h.demand == internal::Demand::kAlways ? "no pinned link"
                                                        : internal::OnDemandNote(h.demand)};
    std::string path = LinkPath(pin_root, h.name);
    UniqueFd fd(bpf_obj_get(path.c_str()));
    if (fd) {
      bpf_link_info info{};
      uint32_t len = sizeof(info);
      bool attached = false;
      if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0) {
        attached = info.type == BPF_LINK_TYPE_CGROUP ? info.cgroup.cgroup_id != 0
                                                     : info.type == BPF_LINK_TYPE_TRACING ||
                                                           info.type == BPF_LINK_TYPE_RAW_TRACEPOINT;
      }
      if (attached) {
        st.state = h.degraded ? HookState::kDegraded : HookState::kEnforcing;
        st.detail = h.degraded ? h.degraded : "";
      } else {
        st.detail = "pinned link is detached";
      }
    }
    r.hooks.push_back(st);
  }
  return r;
}

ProbeReport Gate::Probe() const {
  ProbeReport r;
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    r.hooks = hooks_;
  }
  return r;
}

std::string_view HookStateName(HookState s) {
  switch (s) {
    case HookState::kEnforcing: return "enforcing";
    case HookState::kDegraded: return "degraded";
    case HookState::kAbsent: return "absent";
  }
  return "absent";
}

}  // namespace taogate::bpf
