// DNS name targets at a real governor over real mTLS (issue 16,
// docs/names.md): a named request is evaluated against named entries only,
// a permit issues a TAO whose signed target is the name, a malformed name is
// INVALID_ARGUMENT with a DENIED record, and WatchProtectedTargets ships
// named entries as host_name with no cidr.
#include <gtest/gtest.h>

#include "governance/governor_testing.h"
#include "taogate/common/strings.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/json.h"

namespace taogate::governance::testing {
namespace {

class GovernorNamesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gov_.Start()) << gov_.error();
    // The test bundle's `db` target also names db.prod.internal (tcp 5432).
    std::string yaml = TestPolicy(gov_.ApproverPublicKeys());
    const std::string cidrs = "      - cidrs: [127.0.0.1/32]\n";
    ASSERT_NE(yaml.find(cidrs), std::string::npos);
    yaml.replace(yaml.find(cidrs), cidrs.size(), cidrs + "        hosts: [DB.Prod.Internal.]\n");
    v1::ActivatePolicyRequest req;
    req.set_bundle_yaml(yaml);
    req.set_name("names.yaml");
    grpc::ClientContext ctx;
    ASSERT_TRUE(gov_.Client(kAdmin)->ActivatePolicy(&ctx, req, &activated_).ok());
    ASSERT_TRUE(activated_.errors().empty()) << activated_.errors(0);
  }

  static v1::AuthorizationRequest Named(const std::string& address) {
    v1::AuthorizationRequest r = ReadRequest();
    r.mutable_target()->set_address(address);
    return r;
  }

  std::vector<ledger::Record> Records(ledger::RecordKind kind) {
    gov_.Stop();
    auto records = gov_.LedgerRecords();
    EXPECT_TRUE(records.ok()) << records.status();
    std::vector<ledger::Record> out;
    for (const auto& rec : records.ok() ? *records : std::vector<ledger::Record>{})
      if (rec.kind == kind) out.push_back(rec);
    return out;
  }

  GovernorProcess gov_;
  v1::ActivatePolicyResponse activated_;
};

TEST_F(GovernorNamesTest, NamedPermitIssuesATaoThatVerifiesAndNamesTheTarget) {
  v1::Decision d;
  ASSERT_TRUE(gov_.Authorize(kAgent, Named("db.prod.internal"), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT) << d.reason();
  EXPECT_EQ(d.rule(), "agents-read");
  v1::Tao tao;
  ASSERT_TRUE(tao.ParseFromString(d.tao()));
  auto bundle = gov_.SoftwareTrustBundle();
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  auto body = bundle->VerifyTao(tao, NowMs(), 1000, /*strict=*/false);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->target().proto(), v1::TARGET_PROTO_TCP);
  EXPECT_EQ(body->target().address(), "db.prod.internal");
  EXPECT_EQ(body->target().port(), 5432u);
  EXPECT_NE(tao::BodyToJson(*body).find("\"db.prod.internal\""), std::string::npos);  // tao inspect

  // The signature covers the name: another name in the same body does not verify.
  v1::TaoBody other = *body;
  other.mutable_target()->set_address("db.prod.internai");
  v1::Tao forged = tao;
  forged.set_body(other.SerializeAsString());
  EXPECT_EQ(bundle->VerifyTao(forged, NowMs(), 1000, false).status().code(),
            absl::StatusCode::kUnauthenticated);

  auto issued = Records(ledger::RecordKind::kIssued);
  ASSERT_FALSE(issued.empty());
  EXPECT_EQ(issued.back().Field("target").value_or(""), "tcp:db.prod.internal:5432");
}

TEST_F(GovernorNamesTest, NamedRequestDeniedByPolicy) {
  v1::Decision d;
  // An explicit deny rule.
  ASSERT_TRUE(gov_.Authorize(kPlugin, Named("db.prod.internal"), &d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
  EXPECT_EQ(d.rule(), "never-plugin");
  EXPECT_TRUE(d.tao().empty());
  // A name the bundle does not protect, a port it does not, and udp.
  for (const auto& [address, port, proto] :
       {std::tuple{"other.prod.internal", 5432u, v1::TARGET_PROTO_TCP},
        std::tuple{"db.prod.internal", 5433u, v1::TARGET_PROTO_TCP},
        std::tuple{"db.prod.internal", 5432u, v1::TARGET_PROTO_UDP}}) {
    v1::AuthorizationRequest r = Named(address);
    r.mutable_target()->set_port(port);
    r.mutable_target()->set_proto(proto);
    ASSERT_TRUE(gov_.Authorize(kAgent, r, &d).ok());
    EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY) << address << ":" << port;
    EXPECT_TRUE(d.tao().empty());
  }
}

TEST_F(GovernorNamesTest, IpOfTheNameIsNotTheName) {
  // 127.0.0.1 is protected as a CIDR; the name entry never matches an IP
  // request and the CIDR entry never matches a name request (no resolution).
  v1::Decision d;
  ASSERT_TRUE(gov_.Authorize(kAgent, Named("localhost.localdomain"), &d).ok());
  EXPECT_EQ(d.outcome(), v1::OUTCOME_DENY);
  EXPECT_NE(d.reason().find("not protected"), std::string::npos) << d.reason();
}

TEST_F(GovernorNamesTest, MalformedNameIsInvalidArgumentWithADeniedRecord) {
  v1::Decision d;
  for (const char* bad : {"db_prod.internal", "DB.prod.internal", "db.prod.internal.", "*.prod.internal", "db",
                          "db..internal"}) {
    grpc::Status s = gov_.Authorize(kAgent, Named(bad), &d);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("target"), std::string::npos) << s.error_message();
  }
  auto denied = Records(ledger::RecordKind::kDenied);
  size_t invalid = 0;
  for (const auto& rec : denied)
    if (rec.Field("reason_code").value_or("") == "invalid") ++invalid;
  EXPECT_EQ(invalid, 6u);
}

TEST_F(GovernorNamesTest, WatchShipsNamedEntriesAsHostNames) {
  grpc::ClientContext wctx;
  wctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::WatchProtectedTargetsRequest wr;
  wr.set_node_id("node-a");
  auto reader = gov_.Client(kAgent)->WatchProtectedTargets(&wctx, wr);
  v1::ProtectedTargets set;
  ASSERT_TRUE(reader->Read(&set));
  EXPECT_EQ(set.policy_sha256(), activated_.policy_sha256());
  int named = 0, cidr = 0;
  for (const auto& t : set.targets()) {
    if (!t.host_name().empty()) {
      ++named;
      EXPECT_EQ(t.host_name(), "db.prod.internal");
      EXPECT_TRUE(t.cidr().empty());
      EXPECT_EQ(t.proto(), v1::TARGET_PROTO_TCP);
      EXPECT_EQ(t.port_from(), 5432u);
      EXPECT_EQ(t.port_to(), 5432u);
      EXPECT_EQ(t.name(), "db");
    } else if (t.cidr() == "127.0.0.1/32") {
      ++cidr;
    }
  }
  EXPECT_EQ(named, 1);
  EXPECT_EQ(cidr, 1);
  wctx.TryCancel();
}

}  // namespace
}  // namespace taogate::governance::testing
