// taogatectl probe [--json] [--pin-root DIR] [--require CAP]: per capability (network, unix,
// files, exec, self-protection, kill switch), which mechanism enforces it on
// this kernel and whether it is enforcing, degraded (and how) or absent; then
// per kernel hook. Reads pinned link state: nothing reports enforcing unless
// it is attached (the LSM rows need the agent's pins under DIR/lsm).
// Then warnings: a protected loopback target (tcp:127.0.0.1:P) whose port is
// served on a wildcard address here, reachable through every node address
// (wildcard_listeners.h). The targets are the --target specs given, else the
// running agent's (its Probe answer, over --socket).
// Exit 4 (kExitNotEnforcing) when a capability that is requested -- by the
// running agent's config (its Probe rows' `requested`) or by --require NAME
// -- is not enforcing on this node.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <set>

#include <nlohmann/json.hpp>

#include "command.h"
#include "taogate/agent/client.h"
#include "taogate/agent/wildcard_listeners.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/bpflsm/lsm_loader.h"
#include "taogate/enforce/enforcer.h"

namespace taogate::cli {
namespace {

// BPF LSM: whether the programs load and attach on this kernel (probed by
// attaching and detaching them with no cgroup governed). Whether they enforce
// is the capability table's business (it needs the agent's pins).
std::string LsmState(const bpflsm::LsmProbe& p, const bpflsm::HookStatus* h) {
  if (!p.attach_ok) return "absent";
  return h != nullptr && !h->enforcing ? "absent" : "available";
}

bool LsmPinned(const std::string& pin_root) {
  return access((pin_root + "/lsm/link_tg_file_open").c_str(), F_OK) == 0;
}

// The exposure warnings and where the targets came from; the capabilities
// the agent's config requests into *requested.
std::vector<std::string> Warnings(const std::vector<std::string>& targets, const std::string& agent_socket,
                                  std::string* source, std::set<std::string>* requested) {
  auto r = agent::AgentClient::ForSocket(agent_socket, 2'000)->Probe();
  if (r.ok())
    for (const auto& c : r->capabilities())
      if (c.requested()) requested->insert(c.capability());
  if (!targets.empty()) {
    *source = "--target";
    return agent::WildcardExposureWarnings(targets, agent::ReadWildcardListeners());
  }
  if (!r.ok()) {
    *source = "none (agent not reachable at " + agent_socket + "; pass --target SPEC to check targets)";
    return {};
  }
  *source = "agent";
  return {r->warnings().begin(), r->warnings().end()};
}

int Probe(const std::string& pin_root, bool json, const std::vector<std::string>& targets,
          const std::string& agent_socket, const std::vector<std::string>& require, bool allow_degraded) {
  std::string source;
  std::set<std::string> requested(require.begin(), require.end());
  std::vector<std::string> warnings = Warnings(targets, agent_socket, &source, &requested);
  bpf::ProbeReport r = bpf::Gate::ProbePinned(pin_root);
  bpflsm::LsmProbe lsm = bpflsm::ProbeLsm();
  auto mount = bpf::Cgroup2Mount();
  bool btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  std::vector<enforce::Capability> caps = enforce::ProbeCapabilities(r, lsm, LsmPinned(pin_root));
  if (json) {
    nlohmann::json j;
    j["pin_root"] = pin_root;
    j["kernel"] = {{"btf", btf}, {"cgroup2_mount", mount.ok() ? *mount : ""}};
    j["capabilities"] = nlohmann::json::array();
    for (const auto& c : caps)
      j["capabilities"].push_back({{"capability", c.name},
                                   {"mechanism", std::string(enforce::MechanismName(c.mechanism))},
                                   {"state", std::string(bpf::HookStateName(c.state))},
                                   {"hooks", c.hooks},
                                   {"detail", c.detail},
                                   {"requested", requested.count(c.name) > 0}});
    j["hooks"] = nlohmann::json::array();
    for (const auto& h : r.hooks) {
      j["hooks"].push_back({{"hook", h.name},
                            {"state", std::string(bpf::HookStateName(h.state))},
                            {"detail", h.detail}});
    }
    j["lsm"] = {{"active_lsms", lsm.active_lsms},
                {"bpf_lsm_active", lsm.bpf_lsm_active},
                {"state", LsmState(lsm, nullptr)},
                {"detail", lsm.detail},
                {"hooks", nlohmann::json::array()}};
    for (const auto& h : lsm.hooks)
      j["lsm"]["hooks"].push_back(
          {{"hook", "lsm/" + h.hook}, {"state", LsmState(lsm, &h)}, {"detail", h.detail}});
    j["warnings"] = warnings;
    j["warnings_targets_from"] = source;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "pin root: " << pin_root << "\n"
              << "kernel BTF: " << (btf ? "yes" : "no") << ", cgroup2: "
              << (mount.ok() ? *mount : std::string("not mounted")) << "\n"
              << "capabilities:\n";
    for (const auto& c : caps) {
      std::string state(bpf::HookStateName(c.state));
      std::cout << "  " << c.name << std::string(c.name.size() < 17 ? 17 - c.name.size() : 1, ' ') << state
                << std::string(state.size() < 10 ? 10 - state.size() : 1, ' ') << enforce::MechanismName(c.mechanism);
      if (!c.hooks.empty()) std::cout << " (" << c.hooks << ")";
      if (!c.detail.empty()) std::cout << ": " << c.detail;
      if (requested.count(c.name) > 0) std::cout << " [requested]";
      std::cout << "\n";
    }
    std::cout << "hooks:\n";
    for (const auto& h : r.hooks) {
      std::cout << "  " << h.name << std::string(h.name.size() < 24 ? 24 - h.name.size() : 1, ' ')
                << bpf::HookStateName(h.state);
      if (!h.detail.empty()) std::cout << "  (" << h.detail << ")";
      std::cout << "\n";
    }
    std::cout << "BPF LSM: " << LsmState(lsm, nullptr) << " (active LSMs: "
              << (lsm.active_lsms.empty() ? "unknown" : lsm.active_lsms) << ")";
    if (!lsm.detail.empty()) std::cout << "  " << lsm.detail;
    std::cout << "\n";
    for (const auto& h : lsm.hooks)
      std::cout << "  lsm/" << h.hook << "  " << LsmState(lsm, &h) << "\n";
    std::cout << "warnings (targets from " << source << "):" << (warnings.empty() ? " none" : "") << "\n";
    for (const auto& w : warnings) std::cout << "  WARNING: " << w << "\n";
  }
  std::vector<CapabilityRow> rows;
  for (const auto& c : caps)
    rows.push_back({c.name, std::string(bpf::HookStateName(c.state)), c.detail, requested.count(c.name) > 0});
  for (const std::string& name : require)
    if (std::none_of(caps.begin(), caps.end(), [&](const auto& c) { return c.name == name; }))
      rows.push_back({name, "absent", "no such capability on this node", true});
  return CheckRequested(rows, allow_degraded);
}

void Register(CLI::App& root) {
  auto* cmd = root.add_subcommand("probe", "Report each kernel hook as enforcing, degraded or absent");
  static std::string pin_root = "/sys/fs/bpf/taogate";
  static bool json = false;
  static std::vector<std::string> targets;
  static std::string agent_socket = "/run/taogate/operator.sock";
  static std::vector<std::string> require;
  static bool allow_degraded = false;
  cmd->add_option("--pin-root", pin_root, "bpffs directory of the pinned gate")->capture_default_str();
  cmd->add_flag("--json", json, "JSON output");
  cmd->add_option("--target", targets, "protected target to check for wildcard exposure (repeatable; "
                                       "default: the running agent's targets)");
  cmd->add_option("--socket", agent_socket, "agent operator socket")->capture_default_str();
  cmd->add_option("--require", require,
                  "capability that must be enforcing, else exit 4 (repeatable; added to what the running "
                  "agent's config requests)");
  cmd->add_flag("--allow-degraded", allow_degraded, "exit 0 when a requested capability is degraded (not absent)");
  cmd->callback([] { ExitCode() = Probe(pin_root, json, targets, agent_socket, require, allow_degraded); });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
