// The OCSF mapping of `taogatectl ledger follow --format ocsf`, on records
// written to and read back from a real ledger (docs/evidence.md's table).
#include "taogate/evidence/ocsf.h"

#include <gtest/gtest.h>

#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger.h"
#include "testing/testing.h"

namespace taogate::evidence {
namespace {

using ledger::RecordKind;

class OcsfTest : public ::testing::Test {
 protected:
  OcsfTest() {
    ledger::LedgerOptions o;
    o.dir = (dir_.path() / "ledger").string();
    o.fsync = false;
    ledger_ = std::move(*ledger::Ledger::Open(o));
  }
  // Appends, reads back, maps.
  Json Event(RecordKind kind, ledger::Fields f, std::string_view origin = "node") {
    auto seq = ledger_->Append(kind, std::move(f));
    EXPECT_TRUE(seq.ok()) << seq.status();
    auto r = ledger_->Read(*seq);
    EXPECT_TRUE(r.ok());
    record_ = *r;
    return OcsfEvent(*r, origin);
  }

  taogate::testing::TempDir dir_;
  std::unique_ptr<ledger::Ledger> ledger_;
  ledger::Record record_;
};

TEST_F(OcsfTest, IssuedIsASuccessfulAuthorizeSession) {
  auto e = Event(RecordKind::kIssued, {{"decision_id", "d1"}, {"actor", "spiffe://x/agent"},
                                       {"node_id", "n1"}, {"target", "tcp:10.0.0.5:5432"}}, "governor");
  EXPECT_EQ(e["class_uid"], 3003);
  EXPECT_EQ(e["category_uid"], 3);
  EXPECT_EQ(e["activity_id"], 1);
  EXPECT_EQ(e["type_uid"], 300301);
  EXPECT_EQ(e["status"], "Success");
  EXPECT_EQ(e["actor"]["user"]["name"], "spiffe://x/agent");
  EXPECT_EQ(e["resource"]["name"], "tcp:10.0.0.5:5432");
  EXPECT_EQ(e["device"]["name"], "n1");
  EXPECT_EQ(e["time"], record_.time_ns / 1'000'000);
  EXPECT_EQ(e["metadata"]["product"]["name"], "taogate");
  EXPECT_EQ(e["metadata"]["uid"], ledger::Base64Encode(record_.hash));
  EXPECT_EQ(e["metadata"]["sequence"], record_.seq);
  EXPECT_EQ(e["metadata"]["log_name"], "governor-ledger");
  EXPECT_EQ(e["unmapped"], RecordJson(record_));
}

TEST_F(OcsfTest, GovernorDenialIsAFailedAuthorizationWithItsReason) {
  auto e = Event(RecordKind::kDenied, {{"decision_id", "d2"}, {"actor", "spiffe://x/w"},
                                       {"decision", "DENY"}, {"reason_code", "no_rule"}}, "governor");
  EXPECT_EQ(e["class_uid"], 3003);
  EXPECT_EQ(e["status_id"], 2);
  EXPECT_EQ(e["status_detail"], "no_rule");
  EXPECT_EQ(e["severity"], "Medium");
}

TEST_F(OcsfTest, KernelDenialIsARefusedConnectionToItsTarget) {
  auto e = Event(RecordKind::kDenied, {{"cgroup_id", "77"}, {"verdict", "no_grant"},
                                       {"target", "tcp:10.0.0.5:5432"}, {"count", "3"}, {"event", "kernel_deny"}});
  EXPECT_EQ(e["class_uid"], 4001);
  EXPECT_EQ(e["activity_name"], "Refuse");
  EXPECT_EQ(e["action"], "Denied");
  EXPECT_EQ(e["dst_endpoint"]["ip"], "10.0.0.5");
  EXPECT_EQ(e["dst_endpoint"]["port"], 5432);
  EXPECT_EQ(e["connection_info"]["protocol_name"], "tcp");
  EXPECT_EQ(e["status_detail"], "no_grant");
}

TEST_F(OcsfTest, ExercisedGrantIsAnAllowedOpenIncludingIpv6AndNames) {
  auto e = Event(RecordKind::kExercised, {{"tao_id", "ab"}, {"target", "udp:[fd00::53]:53"}, {"event", "connect6"}});
  EXPECT_EQ(e["class_uid"], 4001);
  EXPECT_EQ(e["activity_id"], 1);
  EXPECT_EQ(e["action"], "Allowed");
  EXPECT_EQ(e["dst_endpoint"]["ip"], "fd00::53");
  EXPECT_EQ(e["connection_info"]["protocol_ver_id"], 6);
  e = Event(RecordKind::kConsumed, {{"tao_id", "ab"}, {"actor", "spiffe://x/agent"},
                                    {"target", "tcp:db.prod.internal:5432"}});
  EXPECT_EQ(e["dst_endpoint"]["hostname"], "db.prod.internal");
  EXPECT_EQ(e["actor"]["user"]["name"], "spiffe://x/agent");
  e = Event(RecordKind::kRejected, {{"reason", "REPLAY"}, {"target", "unix:/run/pg/.s.PGSQL.5432"}});
  EXPECT_EQ(e["action"], "Denied");
  EXPECT_EQ(e["dst_endpoint"]["name"], "/run/pg/.s.PGSQL.5432");
  EXPECT_EQ(e["status_detail"], "REPLAY");
}

TEST_F(OcsfTest, KillSwitchAndPolicyAreConfigStateChanges) {
  auto e = Event(RecordKind::kKillSwitch, {{"verdict", "engage"}, {"scope", "all"}});
  EXPECT_EQ(e["class_uid"], 5019);
  EXPECT_EQ(e["activity_name"], "KILLSWITCH");
  EXPECT_EQ(e["severity"], "High");
  e = Event(RecordKind::kPolicyActivated, {{"actor", "spiffe://x/admin"}}, "governor");
  EXPECT_EQ(e["class_uid"], 5019);
  EXPECT_EQ(e["severity"], "Informational");
  EXPECT_EQ(e["unmapped"]["kind"], "POLICY_ACTIVATED");
}

TEST_F(OcsfTest, EveryKindMapsToOneOfTheThreeClasses) {
  for (uint16_t k = 1; k <= ledger::kMaxRecordKind; ++k) {
    ledger::Record r;
    r.kind = static_cast<RecordKind>(k);
    int cls = OcsfEvent(r, "node")["class_uid"];
    EXPECT_TRUE(cls == 3003 || cls == 4001 || cls == 5019) << ledger::KindName(r.kind);
  }
}

}  // namespace
}  // namespace taogate::evidence
