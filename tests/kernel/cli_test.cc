// taogatectl probe / run / gate detach against a real pinned gate.
#include <nlohmann/json.hpp>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

using taogate::testing::BinPath;
using taogate::testing::RunCommand;

class CliTest : public OpenGateTest {
 protected:
  std::string HookState(const std::string& hook) {
    auto r = RunCommand({BinPath("taogatectl"), "probe", "--json", "--pin-root", pin_root_});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return "unparseable";
    for (const auto& h : j["hooks"]) {
      if (h["hook"] == hook) return h["state"];
    }
    return "missing";
  }
  // bash's /dev/tcp: exit 0 if the connect succeeded.
  int BashConnect(const std::vector<std::string>& prefix, uint16_t port) {
    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), {"/bin/bash", "-c", StrCat("exec 3<>/dev/tcp/127.0.0.1/", port)});
    return RunCommand(argv).exit_code;
  }
};

TEST_F(CliTest, ProbeRunAndDetach) {
  Listener l = ListenTcp();
  Protect(StrCat("tcp:127.0.0.1:", l.port));
  gate_.reset();  // the CLI sees the pinned gate, not this process
  EXPECT_EQ(HookState("connect4"), "enforcing");
  EXPECT_EQ(HookState("connect_unix"), "degraded");
  // The gate reports its own hooks only; LSM state is in the capability table.
  EXPECT_EQ(HookState("lsm/socket_connect"), "missing");

  std::vector<std::string> run = {BinPath("taogatectl"), "run", "--workload", "w1",
                                  "--governed-root", root_.path(), "--"};
  EXPECT_NE(BashConnect(run, l.port), 0);  // governed: EPERM
  EXPECT_EQ(BashConnect({}, l.port), 0);   // ungoverned

  auto d = RunCommand({BinPath("taogatectl"), "gate", "detach", "--pin-root", pin_root_});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(HookState("connect4"), "absent");
  EXPECT_EQ(BashConnect(run, l.port), 0);
}

TEST_F(CliTest, RunRefusesBadWorkloadNames) {
  for (const char* bad : {"..", "a/b", ""}) {
    auto r = RunCommand({BinPath("taogatectl"), "run", "--workload", bad, "--governed-root",
                         root_.path(), "--", "/bin/true"});
    EXPECT_NE(r.exit_code, 0) << bad;
  }
}

TEST_F(CliTest, DetachRequiresExplicitPinRoot) {
  auto r = RunCommand({BinPath("taogatectl"), "gate", "detach"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(HookState("connect4"), "enforcing");
}

}  // namespace
}  // namespace taogate::bpf::testing
