// taogate-governor: policy, approvals and TAO issuance.
#include <CLI/CLI.hpp>

#include "taogate/common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"taogate-governor: evaluates policy and issues TAOs"};
  app.set_version_flag("--version", std::string("taogate-governor ") + taogate::kVersion);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
