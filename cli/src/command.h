// taogatectl subcommand registry. Each *_cmd.cc defines a registrar with
// TG_CLI_COMMAND(fn); fn adds its subcommands to the root app and reports
// its result through the exit code it returns from the callback.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace taogate::cli {

// Set by a subcommand's callback; main returns it.
int& ExitCode();

// Prints "taogatectl: <what>" to stderr and returns `code` (one-line errors).
int Fail(std::string_view what, int code = 1);

// A failed call to the agent at `socket`, for an operator: "agent not
// running at SOCKET (...)" when nothing listens there, otherwise the gRPC
// code by name and the agent's message ("PERMISSION_DENIED: ...").
std::string AgentCallError(std::string_view socket, const absl::Status& status);

// Exit codes every command shares (docs/agent.md, "Exit codes"): 0 ok, 1 a
// refusal or failure, 2 bad input (usage, unreadable file), 3 permission
// denied or pending approval, 4 a capability the config asks for is not
// enforcing (probe, agent status, agent probe).
inline constexpr int kExitNotEnforcing = 4;

// One "taogatectl: capability NAME requested but STATE: DETAIL" line on
// stderr per row of `rows` (name, state, detail, requested) that is
// requested and not "enforcing"; kExitNotEnforcing if any, else 0. With
// `allow_degraded` (--allow-degraded) a degraded row is reported
// ("WARNING: ...") but passes: e.g. network-unix, which matches literal
// paths only, or files/exec on the kill-on-syscall fallback.
struct CapabilityRow {
  std::string name, state, detail;
  bool requested = false;
};
int CheckRequested(const std::vector<CapabilityRow>& rows, bool allow_degraded);

using Registrar = void (*)(CLI::App& root);
bool RegisterCommand(Registrar r);
const std::vector<Registrar>& Registrars();

}  // namespace taogate::cli

#define TG_CLI_COMMAND(fn) \
  static const bool fn##_registered = ::taogate::cli::RegisterCommand(&fn)
