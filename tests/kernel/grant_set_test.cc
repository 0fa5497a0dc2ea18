// Grant sets (issue 16: a named TAO covers every current address of the
// name): one connect to ANY member consumes the whole set, exactly one of
// racers on different members wins, an address outside the set stays
// denied, and a spent or failed set leaves nothing behind that admits or
// blocks a later grant.
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "kernel/kernel_testing.h"
#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr uint64_t kTenSeconds = 10'000'000'000ull;
const std::vector<std::string> kMembers = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};

class GrantSetTest : public OpenGateTest {
 protected:
  void SetUp() override {
    OpenGateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    l_ = ListenTcpOn("127.0.0.2");  // the others refuse: ECONNREFUSED means "the gate let it pass"
    Protect(StrCat("tcp:127.0.0.0/29:", l_.port));
  }
  std::vector<target::Target> Set(const std::vector<std::string>& ips) const {
    std::vector<target::Target> out;
    for (const std::string& ip : ips) out.push_back(Dest(StrCat("tcp:", ip, ":", l_.port)));
    return out;
  }
  absl::Status Install(const std::string& cg, const std::vector<std::string>& ips, uint8_t seed,
                       uint64_t ttl_ns = kTenSeconds) {
    return gate_->InstallGrantSet(IdOf(cg), Set(ips), Tao(seed), MonoNowNs() + ttl_ns);
  }
  // True if the gate let a connect from `cg` to ip pass (connected, or refused by the stack).
  bool Passes(const std::string& cg, const std::string& ip) {
    uint16_t port = l_.port;
    int r = RunIn(cg, [&ip, port] { return TryConnect(ip, port); });
    EXPECT_TRUE(r == 0 || r == EPERM || r == ECONNREFUSED) << ip << ": errno " << r;
    return r != EPERM;
  }
  Listener l_;
};

TEST_F(GrantSetTest, OneConnectToAnyMemberSpendsTheSet) {
  ASSERT_TRUE(Install(a_.path(), kMembers, 1).ok());
  EXPECT_TRUE(Passes(a_.path(), "127.0.0.3"));
  EXPECT_FALSE(Passes(a_.path(), "127.0.0.2")) << "a sibling admitted a second connect";
  EXPECT_FALSE(Passes(a_.path(), "127.0.0.4")) << "a sibling admitted a second connect";
  EXPECT_FALSE(Passes(a_.path(), "127.0.0.3"));
  DrainEvents();
  int allowed = 0;
  for (const DecisionEvent& e : events_) allowed += e.verdict == Verdict::kAllowGrant;
  EXPECT_EQ(allowed, 1);
}

TEST_F(GrantSetTest, RacersOnDifferentMembersOneWinner) {
  uint16_t port = l_.port;
  for (uint8_t round = 1; round <= 20; ++round) {
    ASSERT_TRUE(Install(a_.path(), kMembers, round).ok()) << "round " << int{round};
    int winners = RunIn(a_.path(), [port] {
      std::atomic<int> ready{0}, passed{0};
      std::vector<std::thread> threads;
      for (const std::string& ip : kMembers) {
        for (int twice = 0; twice < 2; ++twice) {
          threads.emplace_back([&, ip] {
            ready.fetch_add(1);
            while (ready.load() < 6) {
            }
            if (TryConnect(ip, port) != EPERM) passed.fetch_add(1);
          });
        }
      }
      for (auto& t : threads) t.join();
      return passed.load();
    });
    ASSERT_EQ(winners, 1) << "round " << int{round} << ": exactly one of six racers on three members may pass";
  }
}

TEST_F(GrantSetTest, AnAddressOutsideTheSetStaysDenied) {
  ASSERT_TRUE(Install(a_.path(), {"127.0.0.2", "127.0.0.3"}, 2).ok());
  EXPECT_FALSE(Passes(a_.path(), "127.0.0.5")) << "a protected address outside the set passed";
  EXPECT_TRUE(Passes(a_.path(), "127.0.0.2")) << "the refused outsider spent the set";
}

TEST_F(GrantSetTest, TheSetIsTheWorkloadsOnly) {
  ASSERT_TRUE(Install(a_.path(), kMembers, 3).ok());
  EXPECT_FALSE(Passes(b_.path(), "127.0.0.2"));
  EXPECT_TRUE(Passes(a_.path(), "127.0.0.4"));
}

TEST_F(GrantSetTest, ASpentSetNeitherCountsNorBlocksTheNext) {
  ASSERT_TRUE(Install(a_.path(), kMembers, 4).ok());
  EXPECT_EQ(*gate_->GrantCount(), 3u);
  ASSERT_TRUE(Passes(a_.path(), "127.0.0.2"));
  EXPECT_EQ(*gate_->GrantCount(), 0u) << "members of a spent set still count as live";
  ASSERT_TRUE(Install(a_.path(), kMembers, 5).ok()) << "dead siblings blocked a new set";
  EXPECT_TRUE(Passes(a_.path(), "127.0.0.4"));
  auto swept = gate_->SweepExpiredGrants();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 2u) << "the two worthless siblings of the spent set (the first set's were replaced)";
}

TEST_F(GrantSetTest, AnExpiredSetIsDeniedAndSwept) {
  ASSERT_TRUE(Install(a_.path(), kMembers, 6, 50'000'000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_FALSE(Passes(a_.path(), "127.0.0.3"));
  DrainEvents();
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().verdict, Verdict::kDenyExpired);
  auto swept = gate_->SweepExpiredGrants();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 2u) << "two members left; the token went with the consumed member";
  EXPECT_EQ(*gate_->GrantCount(), 0u);
}

TEST_F(GrantSetTest, MalformedSetsAreRefused) {
  const uint64_t id = IdOf(a_.path());
  const uint64_t exp = MonoNowNs() + kTenSeconds;
  EXPECT_EQ(gate_->InstallGrantSet(id, {}, Tao(7), exp).code(), absl::StatusCode::kInvalidArgument);
  std::vector<target::Target> many;
  for (int i = 1; i <= int{Gate::kMaxGrantSet} + 1; ++i) many.push_back(Dest(StrCat("tcp:10.9.0.", i, ":80")));
  EXPECT_EQ(gate_->InstallGrantSet(id, many, Tao(7), exp).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gate_->InstallGrantSet(id, {Dest("tcp:127.0.0.2:80"), Dest("tcp:127.0.0.3:81")}, Tao(7), exp).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gate_->InstallGrantSet(id, {Dest("tcp:127.0.0.2:80"), Dest("udp:127.0.0.3:80")}, Tao(7), exp).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gate_->InstallGrantSet(id, {Dest("tcp:127.0.0.2:80"), Dest("unix:/tmp/x.sock")}, Tao(7), exp).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gate_->InstallGrantSet(0, Set(kMembers), Tao(7), exp).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*gate_->GrantCount(), 0u);
}

TEST_F(GrantSetTest, ACollisionLeavesNothingOfTheSet) {
  ASSERT_TRUE(gate_->InstallGrant(IdOf(a_.path()), Set({"127.0.0.3"})[0], Tao(8), MonoNowNs() + kTenSeconds).ok());
  EXPECT_EQ(Install(a_.path(), kMembers, 9).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*gate_->GrantCount(), 1u) << "a partial set was left behind";
  EXPECT_FALSE(Passes(a_.path(), "127.0.0.2"));
  EXPECT_TRUE(Passes(a_.path(), "127.0.0.3")) << "the earlier single grant was disturbed";
}

}  // namespace
}  // namespace taogate::bpf::testing
