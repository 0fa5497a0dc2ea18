// The `taogatectl policy` subcommands defined outside policy_cmd.cc; it calls
// these from its registrar so they hang under the one `policy` command.
#pragma once

#include <CLI/CLI.hpp>

namespace taogate::cli {

void RegisterPolicyTest(CLI::App& policy);  // policy_test_cmd.cc
void RegisterPolicyDiff(CLI::App& policy);  // policy_diff_cmd.cc

}  // namespace taogate::cli
