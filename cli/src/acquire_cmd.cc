// taogatectl acquire TARGET --action A --reason R [--timeout-ms N]
//            [--annotation K=V ...] [--authorize-only --tao-out FILE] [--socket S]
// For workloads (shells, other languages): asks this node's agent on the
// workload socket; the agent attests the caller, asks the governor, follows
// an approval and (without --authorize-only) redeems the TAO and installs
// the grant. Prints each progress message as one JSON line on stdout
// ({"phase": "ATTESTED", ...}, then "PENDING_APPROVAL", then "GRANTED" or
// "AUTHORIZED" or "REFUSED" with "reason_code"). Exit 0 on GRANTED or
// AUTHORIZED (the TAO written to FILE), 1 on REFUSED or an error.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "taogate/agent/client.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/target/target.h"

namespace taogate::cli {
namespace {

nlohmann::json ToJson(const v1::AcquireProgress& p) {
  nlohmann::json j;
  j["phase"] = v1::AcquireProgress::Phase_Name(p.phase());
  if (!p.workload().empty()) j["workload"] = p.workload();
  if (!p.decision_id().empty()) j["decision_id"] = p.decision_id();
  if (!p.tao_id().empty()) j["tao_id"] = ToHex(p.tao_id());
  if (!p.target().empty()) j["target"] = p.target();
  if (p.expires_at_ms() != 0) j["expires_at_ms"] = p.expires_at_ms();
  if (p.consumed_seq() != 0) j["consumed_seq"] = p.consumed_seq();
  if (!p.reason_code().empty()) j["reason_code"] = p.reason_code();
  if (!p.message().empty()) j["message"] = p.message();
  return j;
}

int Acquire(const std::string& socket, const v1::AcquireRequest& req, bool authorize_only,
            const std::string& tao_out) {
  if (authorize_only && tao_out.empty()) return Fail("--authorize-only needs --tao-out FILE");
  auto client = agent::AgentClient::ForSocket(socket);
  auto last = client->Acquire(req, authorize_only, [](const v1::AcquireProgress& p) {
    // error_handler::replace: a message is the agent's text, never trusted as UTF-8.
    std::cout << ToJson(p).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  });
  if (!last.ok()) return Fail(StrCat("acquire: ", AgentCallError(socket, last.status())));
  if (last->phase() == v1::AcquireProgress::AUTHORIZED) {
    std::ofstream out(tao_out, std::ios::binary | std::ios::trunc);
    out << last->tao();
    out.close();
    if (!out) return Fail(StrCat(tao_out, ": cannot write the TAO"));
    return 0;
  }
  return last->phase() == v1::AcquireProgress::GRANTED ? 0 : 1;
}

void Register(CLI::App& root) {
  static std::string socket = "/run/taogate/agent.sock", target, action, reason, tao_out;
  static uint32_t timeout_ms = 0;
  static bool authorize_only = false;
  static std::vector<std::string> annotations;
  auto* c = root.add_subcommand("acquire", "Ask this node's agent for a grant (as a workload; JSON lines)");
  c->add_option("TARGET", target, "one destination, e.g. tcp:10.0.0.5:5432 or tcp:db.prod.internal:5432")->required();
  c->add_option("--action", action, "action class, e.g. db.read")->required();
  c->add_option("--reason", reason, "why (shown to approvers)")->required();
  c->add_option("--timeout-ms", timeout_ms, "longest wait for approval (0: the agent's default)");
  c->add_option("--annotation", annotations, "KEY=VALUE, recorded, never matched (repeatable)");
  c->add_flag("--authorize-only", authorize_only, "stop with the TAO (redeem it later)");
  c->add_option("--tao-out", tao_out, "with --authorize-only: write the TAO here");
  c->add_option("--socket", socket, "agent workload socket");
  c->callback([] {
    v1::AcquireRequest req;
    // Checked here for a clear message; the agent checks again.
    auto t = target::Parse(target, target::Form::kDestination);
    if (!t.ok()) {
      Fail(StrCat("TARGET: ", t.status().message()));
      return;
    }
    req.set_target(target::Format(*t));
    req.set_action_class(action);
    req.set_reason(reason);
    req.set_timeout_ms(timeout_ms);
    for (const auto& a : annotations) {
      size_t eq = a.find('=');
      if (eq == std::string::npos) {
        Fail(StrCat("--annotation ", a, ": KEY=VALUE"));
        return;
      }
      (*req.mutable_annotations())[a.substr(0, eq)] = a.substr(eq + 1);
    }
    ExitCode() = Acquire(socket, req, authorize_only, tao_out);
  });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
