// taogatectl probe [--json] [--pin-root DIR]: per kernel hook, whether the
// gate pinned under DIR is enforcing, degraded (and how) or absent. Reads
// pinned link state only: nothing reports enforcing unless it is attached.
#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"

namespace taogate::cli {
namespace {

int Probe(const std::string& pin_root, bool json) {
  bpf::ProbeReport r = bpf::Gate::ProbePinned(pin_root);
  auto mount = bpf::Cgroup2Mount();
  bool btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  if (json) {
    nlohmann::json j;
    j["pin_root"] = pin_root;
    j["kernel"] = {{"btf", btf}, {"cgroup2_mount", mount.ok() ? *mount : ""}};
    j["hooks"] = nlohmann::json::array();
    for (const auto& h : r.hooks) {
      j["hooks"].push_back({{"hook", h.name},
                            {"state", std::string(bpf::HookStateName(h.state))},
                            {"detail", h.detail}});
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "pin root: " << pin_root << "\n"
              << "kernel BTF: " << (btf ? "yes" : "no") << ", cgroup2: "
              << (mount.ok() ? *mount : std::string("not mounted")) << "\n";
    for (const auto& h : r.hooks) {
      std::cout << "  " << h.name << std::string(h.name.size() < 24 ? 24 - h.name.size() : 1, ' ')
                << bpf::HookStateName(h.state);
      if (!h.detail.empty()) std::cout << "  (" << h.detail << ")";
      std::cout << "\n";
    }
  }
  return 0;
}

void Register(CLI::App& root) {
  auto* cmd = root.add_subcommand("probe", "Report each kernel hook as enforcing, degraded or absent");
  static std::string pin_root = "/sys/fs/bpf/taogate";
  static bool json = false;
  cmd->add_option("--pin-root", pin_root, "bpffs directory of the pinned gate")->capture_default_str();
  cmd->add_flag("--json", json, "JSON output");
  cmd->callback([] { ExitCode() = Probe(pin_root, json); });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
