// taogatectl: the operator CLI.
#include <iostream>

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
