// The agent side of hold mode without root: its config knobs and the
// workload-set annotations (context only, bounded, never trusted).
#include <gtest/gtest.h>

#include "taogate/agent/config.h"
#include "taogate/agent/hold.h"

namespace taogate::agent {
namespace {

TEST(HoldConfig, OffByDefaultBoundedMaxHoldAlsoInPodsMode) {
  auto c = ParseConfig("node_id: n\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->hold_socket.empty());
  EXPECT_EQ(c->hold_max_ms, 30'000);
  auto on = ParseConfig("node_id: n\nhold_socket: /run/x/hold.sock\nhold_max_ms: 5000\n");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(FinalizeConfig(*on).ok());
  EXPECT_EQ(on->hold_max_ms, 5000);
  // The action class is the bundle's now (`hold:` rules): the old key is unknown.
  EXPECT_FALSE(ParseConfig("node_id: n\nhold_action_class: db.read\n").ok());
  auto zero = ParseConfig("node_id: n\nhold_max_ms: 0\n");
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(FinalizeConfig(*zero).ok());
  // Pods mode holds pods (the containers' runtime hands the listener over).
  auto pods = ParseConfig("node_id: n\nworkloads: pods\ngoverned_cgroup: /kubepods.slice\nhold_socket: /run/x/hold.sock\n");
  ASSERT_TRUE(pods.ok()) << pods.status();
  absl::Status st = FinalizeConfig(*pods);
  EXPECT_EQ(st.message().find("hold_socket"), std::string::npos) << st;
}

TEST(HoldAnnotations, MalformedPairsDroppedControlCharactersRefusedAtMostSixteen) {
  auto a = ParseAnnotations("ticket=INC-42,why=nightly report,=nokey,novalue,bad=\x01x");
  EXPECT_EQ(a, (std::map<std::string, std::string>{{"ticket", "INC-42"}, {"why", "nightly report"}}));
  std::string many;
  for (int i = 0; i < 40; ++i) many += "k" + std::to_string(i) + "=v,";
  EXPECT_EQ(ParseAnnotations(many).size(), 16u);
  EXPECT_TRUE(ParseAnnotations(std::string(300, 'k') + "=v").empty());
}

}  // namespace
}  // namespace taogate::agent
