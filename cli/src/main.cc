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

static std::vector<Registrar>& MutableRegistrars() {
  static std::vector<Registrar> r;
  return r;
}
bool RegisterCommand(Registrar r) {
  MutableRegistrars().push_back(r);
  return true;
}
const std::vector<Registrar>& Registrars() { return MutableRegistrars(); }

}  // namespace taogate::cli

int main(int argc, char** argv) {
  taogate::log::SetPlainText(true);
  CLI::App app{"taogatectl: operate and audit taogate"};
  app.set_version_flag("--version", std::string("taogatectl ") + taogate::kVersion);
  app.require_subcommand(1);
  for (auto r : taogate::cli::Registrars()) r(app);
  CLI11_PARSE(app, argc, argv);
  return taogate::cli::ExitCode();
}
