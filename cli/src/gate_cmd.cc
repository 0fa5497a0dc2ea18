// taogatectl gate detach --pin-root DIR: the explicit operator action that
// removes kernel enforcement (the agent never detaches on exit): the cgroup
// gate and the agent's BPF LSM programs pinned under DIR/lsm.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "command.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpflsm/lsm_loader.h"

namespace taogate::cli {
namespace {

void Register(CLI::App& root) {
  auto* gate = root.add_subcommand("gate", "Operate the pinned kernel gate");
  gate->require_subcommand(1);
  auto* detach = gate->add_subcommand(
      "detach", "Detach every pinned gate program and remove the pins: ENDS ENFORCEMENT");
  static std::string pin_root;
  detach->add_option("--pin-root", pin_root, "bpffs directory of the pinned gate (no default)")
      ->required();
  detach->callback([] {
    // The agent's LSM pins, and those of a commit that did not finish.
    for (const std::string& lsm_dir : {pin_root + "/lsm", pin_root + "/lsm-next"}) {
      if (access(lsm_dir.c_str(), F_OK) != 0) continue;
      if (absl::Status s = bpflsm::LsmGate::Unpin(lsm_dir); !s.ok()) {
        ExitCode() = Fail(std::string(s.message()));
        return;
      }
      if (rmdir(lsm_dir.c_str()) != 0 && errno != ENOENT) {
        ExitCode() = Fail("cannot remove " + lsm_dir + ": " + std::strerror(errno));
        return;
      }
    }
    absl::Status s = bpf::Gate::Detach(pin_root);
    if (!s.ok()) {
      ExitCode() = Fail(std::string(s.message()));
      return;
    }
    std::cout << "detached " << pin_root << "\n";
  });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
