// Break-glass scope checks: everything outside the scope is refused.
#include <gtest/gtest.h>

#include "policy_testing.h"

namespace taogate::policies {
namespace {

using namespace testing;
using namespace std::chrono_literals;

BreakGlassRequest Bg(std::string actor, std::string action, std::string target,
                     std::chrono::seconds ttl = 0s) {
  BreakGlassRequest r;
  Request base = Req(std::move(actor), std::move(action), std::move(target), WriterCg());
  r.actor = base.actor;
  r.action = base.action;
  r.target = base.target;
  r.workload = base.workload;
  r.ttl = ttl;
  return r;
}

class BreakGlassTest : public ::testing::Test {
 protected:
  std::shared_ptr<const Policy> p_ = TestPolicy();
};

TEST_F(BreakGlassTest, InsideScopeGrantedWithScopeMaxTtl) {
  auto g = p_->CheckBreakGlass(Bg(kCarol, "db.write", "tcp:10.20.0.9:5432"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->scope_id, "oncall-db");
  EXPECT_EQ(g->ttl, 900s);
  EXPECT_EQ(g->bundle_sha256, p_->hash());
}

TEST_F(BreakGlassTest, RequestedTtlWithinMaxKept) {
  auto g = p_->CheckBreakGlass(Bg(kBob, "db.write", "unix:/run/pg/.s.PGSQL.5432", 60s));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->ttl, 60s);
}

TEST_F(BreakGlassTest, TtlAboveScopeMaxRefused) {
  auto g = p_->CheckBreakGlass(Bg(kCarol, "db.write", "tcp:10.20.0.9:5432", 901s));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(g.status().message()).find("TTL"), std::string::npos);
}

TEST_F(BreakGlassTest, ActorWithoutScopeRoleRefused) {
  // alice is a dba, not on call; the writer agent cannot break glass either.
  EXPECT_EQ(p_->CheckBreakGlass(Bg(kAlice, "db.write", "tcp:10.20.0.9:5432")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(p_->CheckBreakGlass(Bg(kWriter, "db.write", "tcp:10.20.0.9:5432")).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(BreakGlassTest, ActionOutsideScopeRefused) {
  auto g = p_->CheckBreakGlass(Bg(kCarol, "secrets.read", "tcp:10.20.0.9:5432"));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(g.status().message()).find("action"), std::string::npos);
}

TEST_F(BreakGlassTest, TargetOutsideScopeRefused) {
  auto g = p_->CheckBreakGlass(Bg(kCarol, "db.write", "tcp:10.30.0.7:8443"));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(g.status().message()).find("target"), std::string::npos);
  // An address that is orders-db and also shared-lb: the scope covers only one.
  EXPECT_FALSE(p_->CheckBreakGlass(Bg(kCarol, "db.write", "tcp:10.20.0.100:5432")).ok());
  // Not protected at all: nothing to break glass for.
  EXPECT_FALSE(p_->CheckBreakGlass(Bg(kCarol, "db.write", "tcp:192.0.2.1:5432")).ok());
}

TEST_F(BreakGlassTest, WorkloadOutsideScopeRefused) {
  BreakGlassRequest r = Bg(kCarol, "db.write", "tcp:10.20.0.9:5432");
  r.workload = ReporterPod();
  auto g = p_->CheckBreakGlass(r);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(g.status().message()).find("workload"), std::string::npos);
}

TEST_F(BreakGlassTest, UnknownActorRefused) {
  EXPECT_FALSE(p_->CheckBreakGlass(Bg("spiffe://t.example/human/mallory", "db.write",
                                      "tcp:10.20.0.9:5432"))
                   .ok());
}

TEST_F(BreakGlassTest, NegativeTtlRefused) {
  EXPECT_FALSE(p_->CheckBreakGlass(Bg(kCarol, "db.write", "tcp:10.20.0.9:5432", -5s)).ok());
}

}  // namespace
}  // namespace taogate::policies
