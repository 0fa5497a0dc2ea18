// Losing the TPM while the governor runs: /healthz and /metrics say so
// within a probe interval, issuance stops (at once, or after the configured
// grace) with UNAVAILABLE and a DENIED ledger record, the log has one line
// per transition, and everything resumes when the TPM is back.
#include <gtest/gtest.h>

#include <thread>

#include "governance/governor_tpm_testing.h"
#include "taogate/ledger/ledger.h"

namespace taogate::governance::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class GovernorTpmHealthTest : public GovernorSwtpmTest {
 protected:
  void StartWithGrace(int grace_s) {
    ASSERT_TRUE(gov_.Start({"--tpm-probe-interval-ms", "200", "--tpm-grace-s",
                            std::to_string(grace_s)},
                           tpm_->tcti()))
        << gov_.error();
  }
  std::string Health() { return HttpGet(gov_.MetricsPort(), "/healthz"); }
  std::string Metrics() { return HttpGet(gov_.MetricsPort(), "/metrics"); }
  static bool Healthy(const std::string& h) { return h.find("200 OK") != std::string::npos; }
  // Polls /healthz until it is (un)healthy; false after `limit`.
  bool WaitHealth(bool healthy, milliseconds limit) {
    for (auto end = Clock::now() + limit; Clock::now() < end;) {
      std::string h = Health();
      if (!h.empty() && Healthy(h) == healthy) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }
  grpc::Status Read(v1::Decision* d) {
    grpc::ClientContext c;
    return gov_.Client(kAgent)->RequestAuthorization(&c, ReadRequest(), d);
  }
  size_t LogCount(const std::string& what) {
    std::string log = gov_.log();
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  }
  // DENIED records with reason_code issuance_failed, after Stop().
  int RefusalsInLedger() {
    auto records = gov_.LedgerRecords();
    EXPECT_TRUE(records.ok()) << records.status();
    int n = 0;
    if (!records.ok()) return n;
    for (const ledger::Record& r : *records)
      if (r.kind == ledger::RecordKind::kDenied && r.Field("reason_code") == "issuance_failed") ++n;
    return n;
  }

};

TEST_F(GovernorTpmHealthTest, KilledTpmTurnsHealthRedAndStopsIssuanceAtOnce) {
  StartWithGrace(0);
  v1::Decision d;
  ASSERT_TRUE(Read(&d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_NE(Health().find("ok (root: tpm)"), std::string::npos) << Health();
  EXPECT_NE(Metrics().find("taogate_governor_tpm_up 1"), std::string::npos);
  EXPECT_TRUE(::taogate::testing::UndocumentedSamples(Metrics()).empty()) << Metrics();  // TPM families too

  tpm_->Kill();
  ASSERT_TRUE(WaitHealth(false, milliseconds(2000))) << Health();
  EXPECT_NE(Health().find("TAO issuance stopped"), std::string::npos) << Health();
  EXPECT_NE(Metrics().find("taogate_governor_tpm_up 0"), std::string::npos) << Metrics();
  v1::Decision refused;
  grpc::Status s = Read(&refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("TPM"), std::string::npos) << s.error_message();
  EXPECT_TRUE(refused.tao().empty());
  std::this_thread::sleep_for(milliseconds(1000));  // ~5 more failed probes
  EXPECT_EQ(LogCount("\"TPM unreachable\""), 1u) << gov_.log();
  EXPECT_EQ(LogCount(":tcti:"), 0u) << "the TSS logs every failed probe";

  ASSERT_TRUE(tpm_->Restart().ok());
  ASSERT_TRUE(WaitHealth(true, milliseconds(3000))) << Health();
  EXPECT_EQ(LogCount("TPM reachable again"), 1u) << gov_.log();
  ASSERT_TRUE(Read(&d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_FALSE(d.tao().empty());
  gov_.Stop();
  EXPECT_EQ(RefusalsInLedger(), 1);
}

TEST_F(GovernorTpmHealthTest, WithAGraceIssuanceContinuesThenStops) {
  StartWithGrace(3);
  tpm_->Kill();
  const auto killed = Clock::now();
  ASSERT_TRUE(WaitHealth(false, milliseconds(2000))) << Health();
  EXPECT_NE(Health().find("still issuing within the grace"), std::string::npos) << Health();
  v1::Decision d;
  ASSERT_TRUE(Read(&d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  EXPECT_LT(Clock::now() - killed, milliseconds(2500));  // the PERMIT was inside the grace

  std::this_thread::sleep_until(killed + milliseconds(4000));
  grpc::Status s = Read(&d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(Health().find("TAO issuance stopped"), std::string::npos) << Health();

  ASSERT_TRUE(tpm_->Restart().ok());
  ASSERT_TRUE(WaitHealth(true, milliseconds(3000))) << Health();
  ASSERT_TRUE(Read(&d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
}

TEST_F(GovernorTpmHealthTest, SoftwareRootIsUnaffectedAndSaysSo) {
  ASSERT_TRUE(gov_.Start({"--tpm-probe-interval-ms", "200"})) << gov_.error();
  EXPECT_NE(Health().find("ok (root: software"), std::string::npos) << Health();
  EXPECT_NE(Metrics().find("taogate_governor_software_root 1"), std::string::npos);
  EXPECT_EQ(Metrics().find("taogate_governor_tpm_up"), std::string::npos);
  v1::Decision d;
  ASSERT_TRUE(Read(&d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
}

}  // namespace
}  // namespace taogate::governance::testing
