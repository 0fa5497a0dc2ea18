// Protected-target validation and the targets cache format (no root needed).
#include "taogate/agent/target_sync.h"

#include <gtest/gtest.h>

#include "taogate/agent/config.h"
#include "testing/testing.h"

namespace taogate::agent {
namespace {

v1::ProtectedTargets Valid() {
  v1::ProtectedTargets m;
  m.set_policy_sha256(std::string(64, 'c'));
  auto* t = m.add_targets();
  t->set_proto(v1::TARGET_PROTO_TCP);
  t->set_cidr("10.1.2.3/8");
  t->set_port_from(5432);
  t->set_port_to(5432);
  t = m.add_targets();
  t->set_proto(v1::TARGET_PROTO_UDP);
  t->set_cidr("::1/128");
  t->set_port_from(0);
  t->set_port_to(65535);
  t = m.add_targets();
  t->set_proto(v1::TARGET_PROTO_UNIX);
  t->set_path("/run/postgresql/.s.PGSQL.5432");
  t = m.add_targets();
  t->set_proto(v1::TARGET_PROTO_FILE);
  t->set_path("/etc/secret");
  return m;
}

absl::StatusCode Code(void (*edit)(v1::ProtectedTargets&)) {
  auto m = Valid();
  edit(m);
  return ValidateProtectedTargets(m).code();
}

TEST(TargetSyncValidateTest, AcceptsAWellFormedSet) { EXPECT_TRUE(ValidateProtectedTargets(Valid()).ok()); }

TEST(TargetSyncValidateTest, OneBadEntryRejectsTheWholeSet) {
  constexpr auto kBad = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(Code([](auto& m) { m.set_policy_sha256("xyz"); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(0)->set_cidr("10.0.0.300/8"); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(0)->set_cidr("10.0.0.0/33"); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(0)->set_port_to(5000); }), kBad);  // hi < lo
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(0)->set_port_to(70000); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(0)->set_port_from(1000); m.mutable_targets(0)->set_port_to(9000); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(2)->set_path("relative.sock"); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(2)->set_path("/" + std::string(200, 'x')); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(3)->set_path(std::string("/etc/a\nb")); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(3)->set_proto(v1::TARGET_PROTO_UNSPECIFIED); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(3)->set_proto(static_cast<v1::TargetProto>(99)); }), kBad);
  EXPECT_EQ(Code([](auto& m) { m.mutable_targets(3)->set_cidr("10.0.0.0/8"); }), kBad);
}

class TargetsCacheTest : public ::testing::Test {
 protected:
  taogate::testing::TempDir dir_;  // before path_: members initialise in order
  std::string path_ = (dir_.path() / "targets.pb").string();
  std::string Bytes() { return taogate::testing::ReadFile(path_); }
  void Put(const std::string& b) { taogate::testing::WriteFile(path_, b); }
  absl::Status Load() { return LoadTargetsCache(path_).status(); }
};

TEST_F(TargetsCacheTest, RoundTrips) {
  ASSERT_TRUE(SaveTargetsCache(path_, Valid()).ok());
  auto m = LoadTargetsCache(path_);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->SerializeAsString(), Valid().SerializeAsString());
}

TEST_F(TargetsCacheTest, MissingIsNotFound) { EXPECT_EQ(Load().code(), absl::StatusCode::kNotFound); }

TEST_F(TargetsCacheTest, FlippedPayloadByte) {
  ASSERT_TRUE(SaveTargetsCache(path_, Valid()).ok());
  std::string b = Bytes();
  b[b.size() - 1] ^= 1;
  Put(b);
  EXPECT_EQ(Load().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(Load().message()).find("checksum mismatch"), std::string::npos);
}

TEST_F(TargetsCacheTest, BadMagic) {
  ASSERT_TRUE(SaveTargetsCache(path_, Valid()).ok());
  std::string b = Bytes();
  b[0] = 'X';
  Put(b);
  EXPECT_NE(std::string(Load().message()).find("bad magic"), std::string::npos);
}

TEST_F(TargetsCacheTest, ShrunkLength) {
  ASSERT_TRUE(SaveTargetsCache(path_, Valid()).ok());
  Put(Bytes().substr(0, Bytes().size() - 4));
  EXPECT_NE(std::string(Load().message()).find("length mismatch"), std::string::npos);
}

TEST_F(TargetsCacheTest, ShortHeaderAndEmptyFile) {
  Put("TGTARGS1");
  EXPECT_NE(std::string(Load().message()).find("short header"), std::string::npos);
  Put("");
  EXPECT_EQ(Load().code(), absl::StatusCode::kDataLoss);
}

TEST(AgentConfigGovernorTest, KeysParsedAndCheckedAndCacheDefaulted) {
  auto c = ParseConfig("node_id: n1\ngovernor_address: gov.example:7443\ngovernor_ca: /c\n"
                       "governor_cert: /e\ngovernor_key: /k\ngovernor_retry_max_ms: 5000\n"
                       "ledger_dir: /var/lib/taogate/ledger\n");
  ASSERT_TRUE(c.ok()) << c.status();
  c->cgroup2_mount = "/sys/fs/cgroup";
  ASSERT_TRUE(FinalizeConfig(*c).ok());
  EXPECT_EQ(c->targets_cache, "/var/lib/taogate/targets.pb");
  EXPECT_EQ(c->governor_retry_max_ms, 5000);
  AgentConfig d = *c;
  d.governor_key.clear();
  EXPECT_FALSE(FinalizeConfig(d).ok());
  d = *c;
  d.governor_address = "no-port";
  EXPECT_FALSE(FinalizeConfig(d).ok());
  EXPECT_FALSE(ParseConfig("node_id: n1\ngovernor_adress: x:1\n").ok());
}

}  // namespace
}  // namespace taogate::agent
