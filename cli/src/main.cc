// taogatectl: the operator CLI.
#include <sys/stat.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "command.h"
#include "taogate/common/log.h"
#include "taogate/common/version.h"

namespace taogate::cli {

int& ExitCode() {
  static int code = 0;
  return code;
}

int Fail(std::string_view what, int code) {
  std::cerr << "taogatectl: " << what << "\n";
  ExitCode() = code;
  return code;
}

std::string AgentCallError(std::string_view socket, const absl::Status& status) {
  std::string message(status.message());
  if (status.code() == absl::StatusCode::kUnavailable) {
    struct stat st {};
    const std::string path(socket);
    const bool absent = stat(path.c_str(), &st) != 0;
    // Only what says nobody listens: a kernel refusal of the connect (a
    // quarantined workload: "Operation not permitted") is reported as is.
    if (absent || !S_ISSOCK(st.st_mode) || message.find("Connection refused") != std::string::npos)
      return absl::StrCat("agent not running at ", path,
                          absent ? " (no such socket)" : !S_ISSOCK(st.st_mode) ? " (not a socket)"
                                                                                  : " (connection refused)");
  }
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", message);
}

int CheckRequested(const std::vector<CapabilityRow>& rows, bool allow_degraded) {
  int rc = 0;
  for (const CapabilityRow& r : rows) {
    if (!r.requested || r.state == "enforcing") continue;
    const bool pass = allow_degraded && r.state == "degraded";
    std::cerr << (pass ? "WARNING: " : "taogatectl: ") << "capability " << r.name << " requested but " << r.state
              << (r.detail.empty() ? "" : ": ") << r.detail << "\n";
    if (!pass) rc = kExitNotEnforcing;
  }
  if (rc != 0) ExitCode() = rc;
  return rc;
}

static std::vector<Registrar>& MutableRegistrars() {
  static std::vector<Registrar> r;
  return r;
}
bool RegisterCommand(Registrar r) {
  MutableRegistrars().push_back(r);
  return true;
}
const std::vector<Registrar>& Registrars() { return MutableRegistrars(); }

// Old spellings kept for scripts written against them (one spelling per
// option: completion, man pages and --help show only the new one). Each is
// rewritten before parsing, within its command, with a warning on stderr.
struct Deprecated {
  const char* command;  // the first word after taogatectl
  const char* old_name;
  const char* new_name;
};
constexpr Deprecated kDeprecated[] = {
    {"keys", "--bundle", "--trust-bundle"},
    {"keys", "--bundle-out", "--trust-bundle-out"},
    {"probe", "--agent-socket", "--socket"},
    {"why", "--limit", "--count"},
};

std::vector<std::string> RewriteDeprecated(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (args.size() < 2) return args;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--") break;
    for (const Deprecated& d : kDeprecated) {
      const std::string old_name = d.old_name;
      if (args[1] != d.command || (args[i] != old_name && !args[i].starts_with(old_name + "="))) continue;
      std::cerr << "taogatectl: " << old_name << " is deprecated, use " << d.new_name << "\n";
      args[i] = d.new_name + args[i].substr(old_name.size());
      break;
    }
  }
  return args;
}

}  // namespace taogate::cli

int main(int argc, char** argv) {
  taogate::log::SetPlainText(true);
  CLI::App app{"taogatectl: operate and audit taogate"};
  app.set_version_flag("--version", std::string("taogatectl ") + taogate::kVersion);
  app.require_subcommand(1);
  for (auto r : taogate::cli::Registrars()) r(app);
  std::vector<std::string> args = taogate::cli::RewriteDeprecated(argc, argv);
  std::vector<char*> argv2;
  for (auto& a : args) argv2.push_back(a.data());
  CLI11_PARSE(app, static_cast<int>(argv2.size()), argv2.data());
  return taogate::cli::ExitCode();
}
