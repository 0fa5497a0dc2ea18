// Internal: the loader's section readers, shared by loader.cc and
// loader_sections.cc. Each reader appends what is valid to the Bundle and
// reports the rest through the Walker.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "taogate/policies/bundle.h"
#include "yaml_walk.h"

namespace taogate::policies::internal {

struct Symbols {
  SymbolTable roles, actors, workloads, targets, actions;
};

// `mode: enforce | audit` (targets and workloads): true for audit; nullopt
// (error reported) for anything else.
std::optional<bool> ReadAuditMode(Walker& w, const YAML::Node& n, const std::string& path);

void ReadTopLevel(Walker& w, std::string_view bytes, Bundle& b);
void ReadRoles(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadActionClasses(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadWorkloads(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadActors(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadTargets(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadRules(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadRateLimits(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadBreakGlass(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);
void ReadHold(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);  // loader_limits.cc
void ReadGovernedPods(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s);  // loader_pods.cc

}  // namespace taogate::policies::internal
