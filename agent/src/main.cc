// taogate-agent: the per-node daemon between governed workloads and the
// kernel gate.
#include <CLI/CLI.hpp>

#include "taogate/common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"taogate-agent: verifies and consumes TAOs, programs the kernel gate"};
  app.set_version_flag("--version", std::string("taogate-agent ") + taogate::kVersion);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
