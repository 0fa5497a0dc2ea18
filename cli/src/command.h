// taogatectl subcommand registry. Each *_cmd.cc defines a registrar with
// TG_CLI_COMMAND(fn); fn adds its subcommands to the root app and reports
// its result through the exit code it returns from the callback.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <string_view>

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

using Registrar = void (*)(CLI::App& root);
bool RegisterCommand(Registrar r);
const std::vector<Registrar>& Registrars();

}  // namespace taogate::cli

#define TG_CLI_COMMAND(fn) \
  static const bool fn##_registered = ::taogate::cli::RegisterCommand(&fn)
