// Canonical absolute paths, shared by the TAO codec (cgroup paths in
// bindings) and the policy loader (target and selector paths).
#pragma once

#include <string_view>

namespace taogate {

// True if every '/'-separated component of `rest` (a path without its
// leading '/') is non-empty and neither "." nor "..".
bool CanonicalComponents(std::string_view rest);

}  // namespace taogate
