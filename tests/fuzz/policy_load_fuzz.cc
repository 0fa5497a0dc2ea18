// libFuzzer target: a policy bundle (and the other untrusted-text parsers of
// taogate::policies) must never crash, hang or leak on any input; a bundle
// that loads must evaluate without crashing.
// The (void)-discarded results are the point: any verdict is fine, a crash is not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "taogate/policies/policy.h"
#include "taogate/policies/reason.h"

using namespace taogate::policies;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)SanitizeReason(in);
  (void)ParseTargetRef(in);
  (void)ParseCidr(in);
  std::vector<ValidationError> errors;
  auto p = Policy::Load(in, "fuzz.yaml", &errors);
  if (!p.ok()) return 0;
  (void)(*p)->ProtectedTargets();
  const Bundle& b = (*p)->bundle();
  for (const char* t : {"tcp:10.20.0.5:5432", "udp:[fd00::1]:53", "file:/etc/a/b", "unix:/run/x",
                        "exec:/usr/bin/psql"}) {
    Request r;
    r.actor = b.actors.empty() ? "a" : b.actors[0].identity;
    r.action = b.action_classes.empty() ? "x" : b.action_classes[0].id;
    r.target = *ParseTargetRef(t);
    r.workload.cgroup_path = "/a/b";
    r.workload.node = "n";
    r.workload.pod_labels["app"] = "x";
    Decision d = (*p)->Evaluate(r);
    if (d.approval) (void)(*p)->CheckApprovals(*d.approval, r.actor, {});
    BreakGlassRequest bg{r.actor, r.workload, r.action, r.target, {}};
    (void)(*p)->CheckBreakGlass(bg);
  }
  return 0;
}
