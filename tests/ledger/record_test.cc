#include "taogate/ledger/record.h"

#include <gtest/gtest.h>

#include "taogate/ledger/ledger_format.h"

namespace taogate::ledger {
namespace {

Fields Sample() {
  return {{"tao_id", "0123456789abcdef0123456789abcdef"}, {"actor", "agent:billing"},
          {"target", "tcp/10.0.0.5:5432"}, {"reason", "nightly reconciliation — ok"}};
}

TEST(RecordTest, PayloadRoundTripKeepsFieldOrder) {
  Hash prev{};
  prev[0] = 0xaa;
  std::string p = EncodePayload(42, 1732233000123456789, RecordKind::kConsumed, prev, Sample());
  auto r = DecodePayload(p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->seq, 42u);
  EXPECT_EQ(r->time_ns, 1732233000123456789);
  EXPECT_EQ(r->kind, RecordKind::kConsumed);
  EXPECT_EQ(r->prev_hash, prev);
  EXPECT_EQ(r->fields, Sample());
  EXPECT_EQ(r->hash, LeafHash(p));
  EXPECT_EQ(r->Field("actor").value(), "agent:billing");
  EXPECT_FALSE(r->Field("node_id").has_value());
}

TEST(RecordTest, NonAllowlistedFieldIsInvalidArgument) {
  for (std::string name : {"password", "token", "payload", "authorization", "Actor", "tao id", ""}) {
    Fields f = {{"actor", "a"}, {name, "x"}};
    EXPECT_EQ(ValidateFields(f).code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST(RecordTest, CheckpointFieldsOnlyForCheckpoints) {
  EXPECT_EQ(ValidateFields({{"signature", "x"}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateFields({{"signature", "x"}}, true).ok());
}

TEST(RecordTest, ValuesBoundedAndFreeOfControlCharacters) {
  EXPECT_TRUE(ValidateFields({{"reason", std::string(format::kMaxFieldValueSize, 'a')}}).ok());
  EXPECT_FALSE(ValidateFields({{"reason", std::string(format::kMaxFieldValueSize + 1, 'a')}}).ok());
  EXPECT_FALSE(ValidateFields({{"reason", "line\nbreak"}}).ok());
  EXPECT_FALSE(ValidateFields({{"reason", std::string("nul\0", 4)}}).ok());
  EXPECT_FALSE(ValidateFields({{"reason", "del\x7f"}}).ok());
  EXPECT_FALSE(ValidateFields({{"actor", "a"}, {"actor", "b"}}).ok());
  Fields many;
  for (size_t i = 0; i <= format::kMaxFields; ++i) many.push_back({"actor", "a"});
  EXPECT_FALSE(ValidateFields(many).ok());
}

TEST(RecordTest, DecoderRejectsMalformedPayloads) {
  std::string p = EncodePayload(1, 2, RecordKind::kIssued, Hash{}, Sample());
  EXPECT_EQ(DecodePayload(p.substr(0, p.size() - 1)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePayload(p + "x").status().code(), absl::StatusCode::kDataLoss);
  std::string bad_version = p;
  bad_version[0] = 2;
  EXPECT_FALSE(DecodePayload(bad_version).ok());
  std::string bad_kind = p;
  bad_kind[17] = 99;
  EXPECT_FALSE(DecodePayload(bad_kind).ok());
  // A secret smuggled in by a writer that skipped validation is refused on read.
  std::string smuggled = EncodePayload(1, 2, RecordKind::kIssued, Hash{}, {{"password", "hunter2"}});
  EXPECT_FALSE(DecodePayload(smuggled).ok());
}

TEST(RecordTest, KindNames) {
  EXPECT_EQ(KindName(RecordKind::kBreakGlass), "BREAK_GLASS");
  EXPECT_EQ(KindFromName("KILLSWITCH"), RecordKind::kKillSwitch);
  EXPECT_EQ(KindName(static_cast<RecordKind>(999)), "UNKNOWN(999)");
  EXPECT_FALSE(KindFromName("NOPE").has_value());
}

TEST(RecordTest, FrameCoversLengthAndPayload) {
  std::string f = EncodeFrame("abc");
  ASSERT_EQ(f.size(), format::kFrameHeaderSize + 3);
  EXPECT_EQ(static_cast<uint8_t>(f[0]), 3);
  EXPECT_EQ(FrameCrc("abc"), FrameCrc("abc"));
  EXPECT_NE(FrameCrc("abc"), FrameCrc("abd"));
}

}  // namespace
}  // namespace taogate::ledger
