// Why (root): the kernel says only EPERM; the real agent, fed by the real
// gate's events, says why -- to the workload itself (taogatectl why inside
// its cgroup, attested from the socket peer) and to the operator, never to
// another workload.
#include <gtest/gtest.h>

#include "agent/agent_harness.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"

namespace taogate::agent::testing {
namespace {

class WhyKernelTest : public TwoWorkloadTest {
 protected:
  std::string Port() const { return std::to_string(protected_->port()); }
  std::string Target() const { return "tcp:127.0.0.1:" + Port(); }
  bool DeniedConnect(const std::string& w) { return RunIn(w, {"connect", "127.0.0.1", Port()}).Has("CONNECT ERR EPERM"); }

  // `taogatectl why ARGS` run inside workload `w` on the workload socket;
  // its stdout and "RC=<exit code>".
  std::string WhyIn(const std::string& w, const std::string& args) {
    std::string path = StrCat(dir_->path().string(), "/why-", ++scripts_, ".sh");
    taogate::testing::WriteFile(path, StrCat(taogate::testing::BinPath("taogatectl"), " why ", args, " --socket ",
                                             workload_sock_, " 2>&1; echo RC=$?\n"));
    return RunIn(w, {"exec", "/bin/sh", path}).out;
  }
  // The operator's view of `req`, polled until its newest denial has `reason`.
  std::optional<v1::Denial> OperatorWhy(v1::WhyRequest req, const std::string& reason) {
    for (int i = 0; i < 60; ++i) {
      auto r = Operator()->Why(req);
      if (r.ok() && r->denials_size() > 0 && r->denials(0).reason() == reason) return r->denials(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }
  std::optional<v1::Denial> OperatorWhyCgroup(uint64_t id, const std::string& reason) {
    v1::WhyRequest req;
    req.set_cgroup_id(id);
    return OperatorWhy(req, reason);
  }
  int scripts_ = 0;
};

TEST_F(WhyKernelTest, ConnectWithoutGrantIsNoGrantForItsPidAndCgroup) {
  ASSERT_TRUE(DeniedConnect("w1"));
  auto d = OperatorWhyCgroup(w1_, "no_grant");
  ASSERT_TRUE(d) << "the agent never recorded the denial";
  EXPECT_EQ(d->target(), Target());
  EXPECT_EQ(d->cgroup_id(), w1_);
  ASSERT_NE(d->pid(), 0u);
  v1::WhyRequest by_pid;
  by_pid.set_pid(d->pid());
  EXPECT_TRUE(OperatorWhy(by_pid, "no_grant"));
  std::string own = WhyIn("w1", "");
  EXPECT_NE(own.find("\"reason\":\"no_grant\""), std::string::npos) << own;
  EXPECT_NE(own.find("\"target\":\"" + Target() + "\""), std::string::npos) << own;
  std::string pid = WhyIn("w1", StrCat("--pid ", d->pid()));
  EXPECT_NE(pid.find(StrCat("\"pid\":", d->pid())), std::string::npos) << pid;
  std::string cg = WhyIn("w1", StrCat("--cgroup ", WorkloadPath("w1")));
  EXPECT_NE(cg.find("\"reason\":\"no_grant\""), std::string::npos) << cg;
}

TEST_F(WhyKernelTest, SecondConnectAfterRedeemIsConsumedWithTheTao) {
  v1::TaoBody b = Body(w1_, protected_->port());
  auto r = RunIn("w1", {"redeem-connect", workload_sock_, WriteTao(Sign(b)), "127.0.0.1", Port()});
  ASSERT_TRUE(r.Has("CONNECT OK")) << r.out;
  ASSERT_TRUE(DeniedConnect("w1"));
  auto d = OperatorWhyCgroup(w1_, "consumed");
  ASSERT_TRUE(d) << "the second connect was not reported consumed";
  EXPECT_EQ(ToHex(d->tao_id()), ToHex(b.id()));
  EXPECT_GT(d->consumed_at_ms(), 0);
  EXPECT_LE(d->consumed_at_ms(), d->time_ms());
  std::string own = WhyIn("w1", "-n 1");
  EXPECT_NE(own.find("\"reason\":\"consumed\""), std::string::npos) << own;
  EXPECT_NE(own.find("\"tao_id\":\"" + ToHex(b.id()) + "\""), std::string::npos) << own;
}

TEST_F(WhyKernelTest, AnotherWorkloadCannotReadThemTheOperatorCan) {
  ASSERT_TRUE(DeniedConnect("w1"));
  auto d = OperatorWhyCgroup(w1_, "no_grant");
  ASSERT_TRUE(d);
  std::string by_cgroup = WhyIn("w2", StrCat("--cgroup ", w1_));
  EXPECT_NE(by_cgroup.find("RC=3"), std::string::npos) << by_cgroup;
  std::string by_pid = WhyIn("w2", StrCat("--pid ", d->pid()));
  EXPECT_NE(by_pid.find("RC=3"), std::string::npos) << by_pid;
  std::string own = WhyIn("w2", "");
  EXPECT_EQ(own, "RC=0\n") << "w2 has no denials of its own";
  v1::WhyRequest all;  // the operator, no pid or cgroup: every workload
  EXPECT_TRUE(OperatorWhy(all, "no_grant"));
  auto outside = AgentClient::ForSocket(workload_sock_)->Why(v1::WhyRequest());
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kPermissionDenied) << "ungoverned caller, workload socket";
}

}  // namespace
}  // namespace taogate::agent::testing
