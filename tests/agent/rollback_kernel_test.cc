// The ledger rollback guard on a real agent: cutting the ledger inside a CONSUMED
// record that a signed checkpoint covers, then restarting, used to let the
// same TAO be redeemed again. The agent now refuses to start, so nothing is
// redeemed, until an operator runs `taogatectl ledger recover --accept-loss`.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "ledger/ledger_testing.h"

namespace taogate::agent::testing {
namespace {

using ledger::RecordKind;
namespace lt = taogate::ledger::testing;

class RollbackKernelTest : public AgentTest {
 protected:
  // StartAgent, expecting it to fail; returns the harness's failure text.
  std::string StartAgentExpectingRefusal() {
    ::testing::TestPartResultArray failures;
    {
      ::testing::ScopedFakeTestPartResultReporter reporter(
          ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
      StartAgent();
    }
    return failures.size() > 0 ? failures.GetTestPartResult(0).message() : std::string("agent started");
  }
};

TEST_F(RollbackKernelTest, TruncatedConsumedRecordStopsTheAgentFromStartingSoTheTaoCannotBeRedeemedAgain) {
  uint64_t w1 = MakeWorkload("w1");
  StartAgent();
  std::string file = WriteTao(Mint(w1, protected_->port()));
  std::string port = std::to_string(protected_->port());
  auto first = RunIn("w1", {"redeem-connect", workload_sock_, file, "127.0.0.1", port});
  ASSERT_TRUE(first.Has("REDEEM OK") && first.Has("CONNECT OK")) << first.out;  // the grant is used up
  StopAgent();  // the closing checkpoint covers the CONSUMED record
  uint64_t consumed = Find(RecordKind::kConsumed).at(0).seq;
  std::string seg = lt::SegmentPath(ledger_dir_);
  lt::TruncateFile(seg, lt::FrameOffsets(seg).at(consumed) + 12);  // the attack
  std::string refusal = StartAgentExpectingRefusal();
  EXPECT_NE(refusal.find("agent failed to start"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("only " + std::to_string(consumed) + " were recovered"), std::string::npos) << refusal;
  // Before the fix the agent started, the CONSUMED record was gone, and this
  // second use of the same TAO was granted and connected.
  auto again = RunIn("w1", {"redeem-connect", workload_sock_, file, "127.0.0.1", port});
  EXPECT_FALSE(again.Has("REDEEM OK")) << again.out;
  EXPECT_FALSE(again.Has("CONNECT OK")) << again.out;
}

}  // namespace
}  // namespace taogate::agent::testing
