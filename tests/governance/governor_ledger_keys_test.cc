// Ledger rollback and checkpoint keys on a real governor (software keys,
// persisted root): its ledger spans restarts, each with a new checkpoint
// key, and verifies with the trust bundle alone; a checkpoint key from
// another root or a swapped KEY_ROTATED certificate is refused; and a
// governor whose ledger lost signed records refuses to start.
#include <gtest/gtest.h>

#include <filesystem>

#include "governance/governor_testing.h"
#include "ledger/ledger_testing.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/record.h"
#include "taogate/ledger/segment.h"

namespace taogate::governance::testing {
namespace {

using taogate::testing::BinPath;
using taogate::testing::CommandResult;
using taogate::testing::RunCommand;
namespace lt = taogate::ledger::testing;

class GovernorLedgerKeysTest : public ::testing::Test {
 protected:
  // One governor run: start, one decision, one explicit checkpoint, stop.
  void Run() {
    ASSERT_TRUE(gov_.Start()) << gov_.error();
    v1::Decision d;
    grpc::ClientContext c1, c2;
    ASSERT_TRUE(gov_.Client(kAgent)->RequestAuthorization(&c1, ReadRequest(), &d).ok());
    v1::LedgerCheckpointResponse cp;
    ASSERT_TRUE(gov_.Client(kAgent)->LedgerCheckpoint(&c2, {}, &cp).ok());
    gov_.Stop();
  }
  // A trust bundle holding the software root the governor persisted at `pem`.
  std::string Bundle(const std::string& pem, const std::string& name) {
    auto pub = (gov_.dir() / (name + ".pub")).string(), bundle = (gov_.dir() / (name + ".json")).string();
    EXPECT_EQ(RunCommand({"/usr/bin/openssl", "pkey", "-in", pem, "-pubout", "-out", pub}).exit_code, 0);
    EXPECT_EQ(Ctl({"keys", "bundle-add", "--trust-bundle", bundle, "--pem", pub, "--name", name, "--software"}).exit_code, 0);
    return bundle;
  }
  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), BinPath("taogatectl"));
    return RunCommand(args);
  }
  CommandResult Verify(const std::string& bundle, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"ledger", "verify", "--dir", gov_.ledger_dir(), "--trust-bundle", bundle};
    a.insert(a.end(), extra.begin(), extra.end());
    return Ctl(a);
  }
  std::string Segment() { return ledger::testing::SegmentPath(gov_.ledger_dir()); }
  std::vector<ledger::Record> Records() {
    std::string d = lt::ReadBytes(Segment());
    std::vector<ledger::Record> out;
    for (uint64_t off : lt::FrameOffsets(Segment()))
      out.push_back(*ledger::DecodePayload(lt::FrameAt(d, off).substr(ledger::format::kFrameHeaderSize)));
    return out;
  }
  // Rewrites the segment with `edit` applied, re-chained, checkpoint roots
  // fixed: everything an attacker without the checkpoint keys can redo.
  void Rewrite(const std::function<void(ledger::Record&)>& edit) {
    ledger::MerkleTree tree;
    ledger::Hash prev{};
    std::string out = ledger::EncodeSegmentHeader(0);
    for (ledger::Record r : Records()) {
      edit(r);
      if (r.kind == ledger::RecordKind::kCheckpoint)
        for (auto& [k, v] : r.fields)
          if (k == "root_hash") v = ledger::Base64Encode(*tree.RootAt(r.seq));
      std::string payload = ledger::EncodePayload(r.seq, r.time_ns, r.kind, prev, r.fields);
      prev = ledger::LeafHash(payload);
      tree.Append(prev);
      out += ledger::EncodeFrame(payload);
    }
    lt::WriteBytes(Segment(), out);
    std::filesystem::remove(gov_.ledger_dir() + "/checkpoint");
  }
  std::vector<uint64_t> CheckpointKeyRecords() {
    std::vector<uint64_t> seqs;
    for (const auto& r : Records())
      if (r.kind == ledger::RecordKind::kKeyRotated && r.Field("scope") == "ledger-checkpoint") seqs.push_back(r.seq);
    return seqs;
  }

  GovernorProcess gov_;
};

TEST_F(GovernorLedgerKeysTest, ALedgerSpanningThreeStartsVerifiesWithTheTrustBundleOnly) {
  Run(), Run(), Run();  // three checkpoint keys, each recorded with its certificate
  ASSERT_EQ(CheckpointKeyRecords().size(), 3u);
  std::string bundle = Bundle(gov_.root_key_path(), "dev-root");
  auto r = Verify(bundle);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("3 checkpoints (3 signatures verified with 3 certified checkpoint keys)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("certified by root dev-root (software mode)"), std::string::npos) << r.out;
  // Strict audits refuse the software root, at the first key record.
  r = Verify(bundle, {"--strict"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("FAILED at seq 0: "), std::string::npos) << r.err;
}

TEST_F(GovernorLedgerKeysTest, ACheckpointKeyFromAnotherRootIsRefusedAtItsRecord) {
  Run();
  std::string bundle = Bundle(gov_.root_key_path(), "dev-root");
  std::filesystem::rename(gov_.root_key_path(), gov_.dir() / "first-root.pem");
  Run();  // a governor with a root the bundle does not hold writes to the same ledger
  uint64_t seq = CheckpointKeyRecords().at(1);
  auto r = Verify(bundle);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("FAILED at seq " + std::to_string(seq) + ": "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checkpoint key: "), std::string::npos) << r.err;
}

TEST_F(GovernorLedgerKeysTest, ASwappedKeyRotatedCertificateIsRefused) {
  Run(), Run();
  auto recs = Records();
  auto keys = CheckpointKeyRecords();
  ledger::Fields first = recs.at(keys.at(0)).fields;  // a valid, chained certificate of another key
  Rewrite([&](ledger::Record& r) {
    if (r.seq == keys.at(1)) r.fields = first;
  });
  auto r = Verify(Bundle(gov_.root_key_path(), "dev-root"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("not by the key of KEY_ROTATED seq " + std::to_string(keys.at(1))),
            std::string::npos) << r.err;
}

TEST_F(GovernorLedgerKeysTest, TheGovernorRefusesToStartOnALedgerThatLostSignedRecords) {
  Run();
  auto offs = lt::FrameOffsets(Segment());
  lt::TruncateFile(Segment(), offs.at(3) + 20);  // inside a record the checkpoints cover
  EXPECT_FALSE(gov_.Start());
  EXPECT_NE(gov_.error().find("were recovered"), std::string::npos) << gov_.error();
  EXPECT_NE(gov_.error().find("--accept-loss"), std::string::npos) << gov_.error();
  // The operator's explicit step, then the governor starts again.
  auto r = Ctl({"ledger", "recover", "--dir", gov_.ledger_dir(), "--accept-loss"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("LOSS_ACCEPTED recorded at seq 3"), std::string::npos) << r.out;
  EXPECT_TRUE(gov_.Start()) << gov_.error();
}

}  // namespace
}  // namespace taogate::governance::testing
