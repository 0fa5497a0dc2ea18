// Checkpoint keys followed through KEY_ROTATED records: a
// ledger that spans restarts, each with a new checkpoint key, verifies with
// the key chain alone; a key the chain does not vouch for, a certificate
// swapped for another key's, or a checkpoint before any key is refused.
#include <gtest/gtest.h>

#include <map>

#include "ledger/ledger_testing.h"
#include "taogate/common/hex.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/segment.h"
#include "taogate/ledger/verify.h"
#include "testing/testing.h"

namespace taogate::ledger {
namespace {

using namespace taogate::ledger::testing;

// A checkpoint key whose "certificate" is "cert:<hex public key>"; the test's
// KeyCheck plays the trust bundle. `claimed` swaps in another key's record.
class CertSigner final : public Signer {
 public:
  CertSigner(uint8_t seed, const CertSigner* claimed = nullptr)
      : key_(std::move(*Ed25519Signer::Create("taogate-governor-test",
                                              *crypto::Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(32, seed))))),
        claimed_(claimed) {}
  std::string KeyName() const override { return key_->KeyName(); }
  uint32_t KeyHash() const override { return key_->KeyHash(); }
  absl::StatusOr<std::string> Sign(std::string_view m) override { return key_->Sign(m); }
  std::string VerifierKey() const override { return key_->VerifierKey(); }
  Fields KeyRecordFields() const override {
    if (claimed_) return claimed_->KeyRecordFields();
    std::string hex = ToHex(key_->PublicKey());
    return {{"key_id", hex}, {"scope", "ledger-checkpoint"}, {"certificate", "cert:" + hex}};
  }
  std::string Hex() const { return ToHex(key_->PublicKey()); }

 private:
  std::unique_ptr<Ed25519Signer> key_;
  const CertSigner* claimed_;
};

class KeyChainTest : public ::testing::Test {
 protected:
  // One daemon run: open with `s`, append n records, close (closing checkpoint).
  void Run(Signer& s, uint64_t n) { AppendSamples(*OpenOrDie(Options(dir_, &s)), n); }
  void Trust(const CertSigner& s, int64_t not_after_ms = INT64_MAX, const std::string& signer = "") {
    trusted_[s.Hex()] = not_after_ms;
    signer_of_[s.Hex()] = signer;
  }
  absl::StatusOr<VerifySummary> Verify() {
    VerifyOptions o;
    o.key_chain = [this](const Record& r) -> absl::StatusOr<CertifiedKey> {
      std::string cert(r.Field("certificate").value_or(""));
      auto it = trusted_.find(cert.substr(5));
      if (it == trusted_.end()) return absl::UnauthenticatedError("unknown root key");
      auto pub = FromHex(it->first);
      CertifiedKey k;
      std::copy(pub->begin(), pub->end(), k.verifier.public_key.begin());
      k.not_after_ms = it->second;
      k.signer = signer_of_[it->first];
      return k;
    };
    return VerifyLedger(dir_, o);
  }

  taogate::testing::TempDir tmp_;
  std::string dir_ = (tmp_.path() / "ledger").string();
  std::map<std::string, int64_t> trusted_;
  std::map<std::string, std::string> signer_of_;  // the certificate's instance
  CertSigner a_{1}, b_{2}, c_{3};
};

TEST_F(KeyChainTest, ALedgerSpanningRestartsVerifiesWithTheKeyChainOnly) {
  Trust(a_), Trust(b_);
  Run(a_, 3), Run(b_, 3), Run(a_, 2);  // three starts, two keys
  auto v = Verify();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->signatures_verified, 3u);
  EXPECT_EQ(v->checkpoint_keys, 3u);
  // What item 6 was about: no single key verifies the whole ledger.
  EXPECT_FALSE(VerifyLedger(dir_, *ParseNoteVerifier(a_.VerifierKey())).ok());
}

// Signs with `key` but introduces no key record: a replica whose KEY_ROTATED
// record is further back, behind another replica's.
class Unannounced final : public Signer {
 public:
  explicit Unannounced(CertSigner& key) : key_(key) {}
  std::string KeyName() const override { return key_.KeyName(); }
  uint32_t KeyHash() const override { return key_.KeyHash(); }
  absl::StatusOr<std::string> Sign(std::string_view m) override { return key_.Sign(m); }
  std::string VerifierKey() const override { return key_.VerifierKey(); }

 private:
  CertSigner& key_;
};

// Issue 18: replicas share one ledger, each checkpointing with its own key.
// A checkpoint by replica A after replica B's key record verifies; once A
// rotates, A's old key is refused, while B's stays current.
TEST_F(KeyChainTest, ReplicasEachSignWithTheirOwnCurrentKey) {
  Trust(a_, INT64_MAX, "gov-a"), Trust(b_, INT64_MAX, "gov-b"), Trust(c_, INT64_MAX, "gov-a");
  Unannounced a_again(a_), b_again(b_);
  Run(a_, 3), Run(b_, 3), Run(a_again, 2);  // A checkpoints after B's key record
  auto v = Verify();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->signatures_verified, 3u);
  Run(c_, 2), Run(b_again, 1);  // A rotated to c; B still on b
  v = Verify();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->signatures_verified, 5u);
  Run(a_again, 1);  // A's retired key
  v = Verify();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
  EXPECT_NE(v.status().message().find("not signed by a current checkpoint key"), std::string::npos) << v.status();
}

TEST_F(KeyChainTest, AKeyTheChainDoesNotVouchForIsRefusedAtItsRecord) {
  Trust(a_);
  Run(a_, 3), Run(c_, 3);  // c is nobody's key; its record is at seq 4
  auto v = Verify();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
  EXPECT_EQ(BadSeq(v.status()), 5u) << v.status();
  EXPECT_NE(v.status().message().find("checkpoint key: unknown root key"), std::string::npos) << v.status();
}

TEST_F(KeyChainTest, ASwappedCertificateIsRefusedAtTheFirstCheckpoint) {
  Trust(a_), Trust(b_);
  CertSigner mallory(4, &b_);  // records b's (valid) certificate, signs with its own key
  Run(a_, 3), Run(mallory, 3);
  auto v = Verify();
  EXPECT_EQ(BadSeq(v.status()), 9u) << v.status();
  EXPECT_NE(v.status().message().find("not by the key of KEY_ROTATED seq 5"), std::string::npos)
      << v.status();
}

TEST_F(KeyChainTest, ACheckpointBeforeAnyKeyRecordIsRefused) {
  auto plain = TestSigner();  // no KEY_ROTATED record
  Run(*plain, 3);
  auto v = Verify();
  EXPECT_EQ(BadSeq(v.status()), 3u) << v.status();
  EXPECT_NE(v.status().message().find("no certified checkpoint key"), std::string::npos) << v.status();
}

TEST_F(KeyChainTest, ACheckpointAfterItsCertificateExpiredIsRefused) {
  Trust(a_, /*not_after_ms=*/1000);
  Run(a_, 2);
  auto v = Verify();
  EXPECT_EQ(BadSeq(v.status()), 3u) << v.status();
  EXPECT_NE(v.status().message().find("outside its key's certificate window"), std::string::npos) << v.status();
}

TEST_F(KeyChainTest, TheSameKeyIsRecordedOncePerScope) {
  Trust(a_);
  Run(a_, 2), Run(a_, 2);  // a restart with the same key adds no KEY_ROTATED record
  auto l = OpenOrDie(Options(dir_));
  int key_records = 0;
  ASSERT_TRUE(l->Scan(0, [&](const Record& r) { return key_records += r.kind == RecordKind::kKeyRotated, true; }).ok());
  EXPECT_EQ(key_records, 1);
}

}  // namespace
}  // namespace taogate::ledger
