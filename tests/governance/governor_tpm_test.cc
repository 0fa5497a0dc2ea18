// The governor with its root key in a real (software) TPM: TAOs and ledger
// checkpoints chain to the TPM key and pass strict verification.
#include <gtest/gtest.h>

#include "governance/governor_tpm_testing.h"
#include "taogate/keys/keys_init.h"
#include "taogate/keys/swtpm.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/ledger/note.h"

namespace taogate::governance::testing {
namespace {

using GovernorTpmTest = GovernorSwtpmTest;

TEST_F(GovernorTpmTest, TaosAndCheckpointsChainToTheTpmRootUnderStrictVerification) {
  ASSERT_TRUE(gov_.Start({}, tpm_->tcti())) << gov_.error();
  v1::Decision d;
  grpc::ClientContext c1;
  ASSERT_TRUE(gov_.Client(kAgent)->RequestAuthorization(&c1, ReadRequest(), &d).ok());
  ASSERT_EQ(d.outcome(), v1::OUTCOME_PERMIT);
  v1::LedgerCheckpointResponse cp;
  grpc::ClientContext c2;
  ASSERT_TRUE(gov_.Client(kAgent)->LedgerCheckpoint(&c2, {}, &cp).ok());
  gov_.Stop();  // releases the TPM connection (swtpm serves one client)

  auto root = keys::ReadRootKey(tpm_->tcti());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->algorithm(), keys::KeyAlgorithm::kEcdsaP256);
  auto bundle = keys::TrustBundle::FromRoots({keys::TrustedRoot{"tpm", *root}});
  ASSERT_TRUE(bundle.ok());
  v1::Tao tao;
  ASSERT_TRUE(tao.ParseFromString(d.tao()));
  auto body = bundle->VerifyTao(tao, NowMs(), 1000, /*strict=*/true);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->decision_ledger_index(), d.ledger_seq());

  auto issuer = bundle->VerifyCertificate(cp.key_certificate(), NowMs(), true);
  ASSERT_TRUE(issuer.ok()) << issuer.status();
  EXPECT_EQ(issuer->purpose, "ledger-checkpoint");
  EXPECT_FALSE(issuer->software_mode);
  auto note = ledger::ParseSignedNote(cp.checkpoint());
  ASSERT_TRUE(note.ok());
  auto parsed = ledger::ParseNoteVerifier(cp.verifier_key());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->public_key, issuer->issuing_public_key);
  EXPECT_TRUE(ledger::VerifyNote(*note, *parsed).ok());

  // A restart adopts the same TPM key: TAOs still verify under the same bundle.
  ASSERT_TRUE(gov_.Start({}, tpm_->tcti())) << gov_.error();
  grpc::ClientContext c3;
  ASSERT_TRUE(gov_.Client(kAgent)->RequestAuthorization(&c3, ReadRequest(), &d).ok());
  ASSERT_TRUE(tao.ParseFromString(d.tao()));
  EXPECT_TRUE(bundle->VerifyTao(tao, NowMs(), 1000, true).ok());
}

TEST_F(GovernorTpmTest, GovernorRefusesToStartWhenTheTpmIsGone) {
  tpm_->Kill();
  EXPECT_FALSE(gov_.Start({}, tpm_->tcti()));
  EXPECT_NE(gov_.error().find("governor failed to start"), std::string::npos) << gov_.error();
}

}  // namespace
}  // namespace taogate::governance::testing
