// Canonical forms and path tests shared by the TAO codec (cgroup paths and pod UIDs in
// bindings), the policy loader (target and selector paths) and the kubelet
// cgroup parser (k8s/pod_cgroup.h).
#pragma once

#include <string_view>

namespace taogate {

// True if every '/'-separated component of `rest` (a path without its
// leading '/') is non-empty and neither "." nor "..".
bool CanonicalComponents(std::string_view rest);

// True if `path` is `prefix` or lies below it, by component: "/a/b/c" is
// under "/a/b" and "/a/b/", "/a/bc" is not; "/" covers every absolute path.
// For cgroup paths and directory targets.
bool PathUnder(std::string_view path, std::string_view prefix);

// True if `uid` is a pod UID as the API server writes it: lowercase
// 8-4-4-4-12 hex (36 characters).
bool IsCanonicalPodUid(std::string_view uid);

}  // namespace taogate
