// The `taogatectl policy` subcommands defined outside policy_cmd.cc; it calls
// these from its registrar so they hang under the one `policy` command.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "taogate/policies/policy.h"

namespace taogate::cli {

// The bundle, or nullptr after printing its errors (FILE:LINE:COL: ...) and a
// one-line failure (policy_cmd.cc).
std::shared_ptr<const policies::Policy> LoadOrReport(const std::string& file);

void RegisterPolicyTest(CLI::App& policy);  // policy_test_cmd.cc
void RegisterPolicyDiff(CLI::App& policy);  // policy_diff_cmd.cc

}  // namespace taogate::cli
