// taogatectl commands against the node agent's sockets:
//   taogatectl redeem FILE [--socket S]        (workloads; workload socket)
//   taogatectl agent status|probe              (operator socket)
//   taogatectl agent killswitch engage|release (--workload W | --cgroup-id N | --all)
//                                [--mode deny|freeze|kill] [--reason TEXT]
//   taogatectl agent ledger-tail [-n N]
//   taogatectl agent ledger-proof SEQ [--tree-size N]
// Output is JSON on stdout; a refusal is one line on stderr and exit code 1;
// status and probe exit 4 when a capability the config asks for is not
// enforcing (command.h, kExitNotEnforcing).
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "command.h"
#include "taogate/agent/client.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"

namespace taogate::cli {
namespace {

constexpr char kWorkloadSocket[] = "/run/taogate/agent.sock";
constexpr char kOperatorSocket[] = "/run/taogate/operator.sock";

int PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  // Cannot fail for a message we parsed: it has no Any fields to resolve.
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
  return 0;
}

int Redeem(const std::string& socket, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(StrCat(file, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto client = agent::AgentClient::ForSocket(socket);
  std::string reason;
  auto r = client->Redeem(ss.str(), &reason);
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kUnavailable && reason.empty())
      return Fail(AgentCallError(socket, r.status()));
    return Fail(StrCat("redeem refused: ", AgentCallError(socket, r.status())));
  }
  std::cout << "{\"tao_id\": \"" << ToHex(r->tao_id()) << "\", \"consumed_seq\": " << r->consumed_seq()
            << ", \"grant_expires_at_ms\": " << r->grant_expires_at_ms() << "}\n";
  return 0;
}

std::string op_socket = kOperatorSocket;  // of the `agent` subcommands
bool allow_degraded = false;              // status, probe: --allow-degraded

template <typename T>
int Show(const absl::StatusOr<T>& r) {
  if (!r.ok())
    return Fail(AgentCallError(op_socket, r.status()), r.status().code() == absl::StatusCode::kPermissionDenied ? 3 : 1);
  return PrintJson(*r);
}

// Status and probe: the JSON, and each warning once more on stderr where an
// operator sees it (e.g. a loopback target served on a wildcard address);
// exit 4 when a capability the config asks for is not enforcing.
template <typename T>
int ShowWarned(const absl::StatusOr<T>& r) {
  int rc = Show(r);
  if (!r.ok()) return rc;
  for (const auto& w : r->warnings()) std::cerr << "WARNING: " << w << "\n";
  std::vector<CapabilityRow> rows;
  for (const v1::Capability& c : r->capabilities())
    rows.push_back({c.capability(), c.state(), c.detail(), c.requested()});
  return CheckRequested(rows, allow_degraded) != 0 ? kExitNotEnforcing : rc;
}

void Register(CLI::App& root) {
  static std::string redeem_socket = kWorkloadSocket, redeem_file;
  auto* redeem = root.add_subcommand("redeem", "Present a TAO to this node's agent (as a workload)");
  redeem->add_option("FILE", redeem_file, "TAO file (binary Tao encoding)")->required();
  redeem->add_option("--socket", redeem_socket, "agent workload socket");
  redeem->callback([] { ExitCode() = Redeem(redeem_socket, redeem_file); });

  auto* agent_cmd = root.add_subcommand("agent", "Operate the node agent (operator socket)");
  agent_cmd->add_option("--socket", op_socket, "agent operator socket");
  agent_cmd->require_subcommand(1);
  auto client = [] { return agent::AgentClient::ForSocket(op_socket); };

  // --socket also after the subcommand (`agent status --socket S`).
  auto socket_opt = [](CLI::App* c) { c->add_option("--socket", op_socket, "agent operator socket"); return c; };
  auto degraded_opt = [](CLI::App* c) {
    c->add_flag("--allow-degraded", allow_degraded, "exit 0 when a requested capability is degraded (not absent)");
    return c;
  };
  degraded_opt(socket_opt(agent_cmd->add_subcommand("status", "Agent status: hooks, ledger, counters")))
      ->callback([client] { ExitCode() = ShowWarned(client()->Status()); });
  degraded_opt(socket_opt(agent_cmd->add_subcommand("probe", "Per-hook enforcement state")))
      ->callback([client] { ExitCode() = ShowWarned(client()->Probe()); });

  static std::string action, workload, mode = "deny", reason;
  static uint64_t cgroup_id = 0;
  static bool all = false;
  auto* ks = socket_opt(agent_cmd->add_subcommand("killswitch", "Engage or release the kill switch"));
  ks->add_option("ACTION", action, "engage | release")->required()->check(CLI::IsMember({"engage", "release"}));
  ks->add_option("--workload", workload, "workload cgroup, relative to the governed root");
  ks->add_option("--cgroup-id", cgroup_id, "workload cgroup id");
  ks->add_flag("--all", all, "every governed workload");
  ks->add_option("--mode", mode, "deny | freeze | kill")->check(CLI::IsMember({"deny", "freeze", "kill"}));
  ks->add_option("--reason", reason, "why (recorded in the ledger)");
  ks->callback([client] {
    v1::KillSwitchRequest req;
    req.set_action(action == "engage" ? v1::KILL_SWITCH_ENGAGE : v1::KILL_SWITCH_RELEASE);
    req.set_workload(workload);
    req.set_cgroup_id(cgroup_id);
    req.set_all(all);
    req.set_mode(mode == "kill" ? v1::KILL_SWITCH_MODE_KILL
                 : mode == "freeze" ? v1::KILL_SWITCH_MODE_FREEZE : v1::KILL_SWITCH_MODE_DENY);
    req.set_reason(reason);
    ExitCode() = Show(client()->KillSwitch(req));
  });

  static uint32_t count = 20;
  auto* tail = socket_opt(agent_cmd->add_subcommand("ledger-tail", "Last records of the node ledger"));
  tail->add_option("-n,--count", count, "records (max 1000)");
  tail->callback([client] { ExitCode() = Show(client()->LedgerTail(count)); });

  static uint64_t seq = 0, tree_size = 0;
  auto* proof = socket_opt(agent_cmd->add_subcommand("ledger-proof", "Inclusion proof of one node-ledger record"));
  proof->add_option("SEQ", seq, "record seq")->required();
  proof->add_option("--tree-size", tree_size, "tree size (default: current)");
  proof->callback([client] { ExitCode() = Show(client()->LedgerProof(seq, tree_size)); });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
