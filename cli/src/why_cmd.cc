// taogatectl why [--pid P | --cgroup ID|PATH] [-n N] [--socket S]
// Why the kernel refused (EPERM) a recent connect, open or exec. On the
// workload socket (default) a workload sees its own denials only; on the
// operator socket (--socket /run/taogate/operator.sock) any pid or cgroup,
// or with neither every workload's. --cgroup takes a cgroup id or the
// cgroup's directory (e.g. /sys/fs/cgroup/taogate/w1). Prints one JSON line
// per denial, newest first ({"reason": "consumed", "target": ..., "tao_id":
// ...}); nothing if none. Exit 0, 3 if refused, 1 on any other error.
#include <sys/stat.h>

#include <charconv>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "taogate/agent/client.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"

namespace taogate::cli {
namespace {

nlohmann::json ToJson(const v1::Denial& d) {
  nlohmann::json j;
  j["reason"] = d.reason();
  j["target"] = d.target();
  j["time_ms"] = d.time_ms();
  j["pid"] = d.pid();
  j["cgroup_id"] = d.cgroup_id();
  j["hook"] = d.hook();
  j["count"] = d.count();
  if (!d.tao_id().empty()) j["tao_id"] = ToHex(d.tao_id());
  if (d.consumed_at_ms() != 0) j["consumed_at_ms"] = d.consumed_at_ms();
  return j;
}

// A cgroup id, or the id (inode) of the cgroup directory at that path.
bool CgroupId(const std::string& arg, uint64_t* id) {
  auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), *id);
  if (ec == std::errc() && end == arg.data() + arg.size()) return true;
  struct stat st {};
  if (stat(arg.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  *id = st.st_ino;
  return true;
}

int Why(const std::string& socket, const v1::WhyRequest& req) {
  auto r = agent::AgentClient::ForSocket(socket)->Why(req);
  if (!r.ok())
    return Fail(StrCat("why: ", AgentCallError(socket, r.status())),
                r.status().code() == absl::StatusCode::kPermissionDenied ? 3 : 1);
  for (const v1::Denial& d : r->denials())
    std::cout << ToJson(d).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

void Register(CLI::App& root) {
  static std::string socket = "/run/taogate/agent.sock", cgroup;
  static uint32_t pid = 0, limit = 16;
  auto* c = root.add_subcommand("why", "Why the gate refused recent connects (JSON lines, newest first)");
  auto* p = c->add_option("--pid", pid, "that process's denials");
  c->add_option("--cgroup", cgroup, "that workload's denials: cgroup id or cgroup directory")->excludes(p);
  c->add_option("-n,--count", limit, "at most N denials (max 256)");
  c->add_option("--socket", socket, "agent socket (workload: own denials; operator: any)");
  c->callback([] {
    v1::WhyRequest req;
    req.set_pid(pid);
    req.set_limit(limit);
    if (!cgroup.empty()) {
      uint64_t id = 0;
      if (!CgroupId(cgroup, &id)) {
        ExitCode() = Fail(StrCat("--cgroup ", cgroup, ": neither a cgroup id nor a cgroup directory"));
        return;
      }
      req.set_cgroup_id(id);
    }
    ExitCode() = Why(socket, req);
  });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
