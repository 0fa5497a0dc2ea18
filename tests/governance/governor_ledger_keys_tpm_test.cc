// Checkpoint keys with the root in a real (software) TPM: a governor ledger
// spanning restarts verifies with the trust bundle alone under --strict.
#include <gtest/gtest.h>

#include "governance/governor_testing.h"
#include "taogate/keys/keys_init.h"
#include "taogate/keys/swtpm.h"
#include "taogate/keys/trust_bundle.h"

namespace taogate::governance::testing {
namespace {

using taogate::testing::BinPath;
using taogate::testing::RunCommand;

TEST(GovernorLedgerKeysTpmTest, ALedgerSpanningRestartsPassesStrictVerificationWithTheBundleOnly) {
  if (system("command -v swtpm >/dev/null 2>&1") != 0) GTEST_SKIP() << "swtpm is not installed";
  taogate::testing::TempDir tpm_dir;
  auto tpm = keys::Swtpm::Start((tpm_dir.path() / "tpm").string());
  ASSERT_TRUE(tpm.ok()) << tpm.status();
  GovernorProcess gov;
  for (int run = 0; run < 2; ++run) {  // two starts: two checkpoint keys
    ASSERT_TRUE(gov.Start({}, (*tpm)->tcti())) << gov.error();
    v1::Decision d;
    grpc::ClientContext c;
    ASSERT_TRUE(gov.Client(kAgent)->RequestAuthorization(&c, ReadRequest(), &d).ok());
    gov.Stop();  // closing checkpoint; releases the TPM (swtpm serves one client)
  }
  auto root = keys::ReadRootKey((*tpm)->tcti());
  ASSERT_TRUE(root.ok()) << root.status();
  auto bundle = (gov.dir() / "bundle.json").string();
  taogate::testing::WriteFile(bundle, keys::TrustBundle::ToJson({keys::TrustedRoot{"tpm-root", *root}}));
  auto r = RunCommand({BinPath("taogatectl"), "ledger", "verify", "--dir", gov.ledger_dir(), "--trust-bundle",
                       bundle, "--strict"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("with 2 certified checkpoint keys"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("certified by root tpm-root at"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace taogate::governance::testing
