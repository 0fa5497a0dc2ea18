// taogatectl against an agent that is not there: scripts must read "agent not
// running at SOCKET", not a refusal, and the option spelled the same after
// the subcommand.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace taogate {
namespace {

using testing::BinPath;
using testing::RunCommand;

TEST(CliErrorsTest, NoSocketIsAgentNotRunningForEveryAgentCommand) {
  testing::TempDir dir;
  const std::string sock = (dir.path() / "agent.sock").string();
  testing::WriteFile((dir.path() / "t.tao").string(), "x");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"agent", "status", "--socket", sock},
           {"agent", "--socket", sock, "probe"},
           {"redeem", (dir.path() / "t.tao").string(), "--socket", sock},
           {"why", "--socket", sock},
       }) {
    std::vector<std::string> argv = {BinPath("taogatectl")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_NE(r.err.find("agent not running at " + sock + " (no such socket)"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("redeem refused"), std::string::npos) << r.err;
  }
}

TEST(CliErrorsTest, ASocketNobodyListensOnIsAgentNotRunning) {
  testing::TempDir dir;
  const std::string sock = (dir.path() / "agent.sock").string();
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, sock.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);  // bound, never listening
  auto r = RunCommand({BinPath("taogatectl"), "agent", "status", "--socket", sock});
  close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("agent not running at " + sock + " (connection refused)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taogate
