// The free-text reason: refused if it could smuggle anything past a human
// reader or a log parser; otherwise stored as hash + redacted summary.
#include <gtest/gtest.h>

#include "taogate/policies/reason.h"

namespace taogate::policies {
namespace {

std::string Summary(const std::string& r) {
  auto rec = SanitizeReason(r);
  EXPECT_TRUE(rec.ok()) << rec.status();
  return rec.ok() ? rec->summary : "";
}

TEST(ReasonTest, AcceptsPlainTextAndHashesExactBytes) {
  std::string r = "INC-4512: refund batch stuck, need  write access";
  auto rec = SanitizeReason(r);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->sha256, crypto::Sha256(r));
  EXPECT_EQ(rec->summary, "INC-4512: refund batch stuck, need write access");
}

TEST(ReasonTest, AcceptsNonAsciiLetters) {
  EXPECT_EQ(Summary("Störung im Zahlungssystem"), "Störung im Zahlungssystem");
}

TEST(ReasonTest, RefusesTooLong) {
  EXPECT_TRUE(SanitizeReason(std::string(kMaxReasonBytes, 'a')).ok());
  EXPECT_EQ(SanitizeReason(std::string(kMaxReasonBytes + 1, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReasonTest, RefusesBlank) {
  EXPECT_FALSE(SanitizeReason("").ok());
  EXPECT_FALSE(SanitizeReason("    ").ok());
}

TEST(ReasonTest, RefusesControlCharacters) {
  for (std::string bad : {std::string("line\nbreak"), std::string("cr\rhere"),
                          std::string("tab\there"), std::string("esc\x1b[31mred"),
                          std::string("nul\0x", 5), std::string("del\x7f"),
                          std::string("c1\xc2\x85next")}) {
    auto s = SanitizeReason(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ReasonTest, RefusesInvisibleFormatting) {
  // RLO (U+202E) reorders what an approver sees; zero-width space hides text;
  // U+2028 is a line break to many renderers; BOM; tag characters.
  for (const char* bad : {"approve \xe2\x80\xae" "evil", "a\xe2\x80\x8b" "b", "a\xe2\x80\xa8" "b",
                          "\xef\xbb\xbfhi", "x\xf3\xa0\x80\x81y", "iso \xe2\x81\xa6x\xe2\x81\xa9"}) {
    auto s = SanitizeReason(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(std::string(s.message()).find("at byte"), std::string::npos);
  }
}

TEST(ReasonTest, RefusesInvalidUtf8) {
  for (const char* bad : {"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "ab\xe2\x82",
                          "\xf4\x90\x80\x80"}) {
    EXPECT_FALSE(SanitizeReason(bad).ok()) << bad;
  }
}

TEST(ReasonTest, RedactsSensitiveLookingWords) {
  EXPECT_EQ(Summary("ping alice@example.com now"), "ping [email] now");
  EXPECT_EQ(Summary("see https://wiki/x?token=1"), "see [url]");
  EXPECT_EQ(Summary("card 4111111111111111 failed"), "card [number] failed");
  EXPECT_EQ(Summary("use password=hunter2 ok"), "use password=[secret] ok");
  EXPECT_EQ(Summary("key AKIAIOSFODNN7EXAMPLE1 leaked"), "key [secret] leaked");
  EXPECT_EQ(Summary("ticket INC-4512"), "ticket INC-4512");
}

TEST(ReasonTest, SummaryIsBoundedAtACodePoint) {
  std::string r;
  for (int i = 0; i < 60; ++i) r += "é ";
  auto rec = SanitizeReason(r);
  ASSERT_TRUE(rec.ok());
  EXPECT_LE(rec->summary.size(), kReasonSummaryBytes + 3);
  EXPECT_EQ(rec->summary.substr(rec->summary.size() - 3), "...");
  // Valid UTF-8 all the way: the summary is itself an acceptable reason.
  EXPECT_TRUE(SanitizeReason(rec->summary).ok());
}

}  // namespace
}  // namespace taogate::policies
