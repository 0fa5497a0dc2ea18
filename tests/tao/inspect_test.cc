// `taogatectl tao inspect` end to end: JSON for a good TAO, one line and a
// non-zero exit for malformed or badly signed files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tao/tao_testing.h"
#include "taogate/common/hex.h"
#include "testing/testing.h"

namespace taogate::testing {
namespace {

using ::testing::HasSubstr;

class InspectTest : public ::testing::Test {
 protected:
  CommandResult Inspect(std::string_view wire) {
    auto path = dir_.path() / "tao.bin";
    WriteFile(path, wire);
    return RunCommand({BinPath("taogatectl"), "tao", "inspect", path.string()});
  }
  static int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
  TempDir dir_;
  TestIssuer issuer_;
};

TEST_F(InspectTest, PrintsFieldsAsJson) {
  v1::TaoBody body = issuer_.ValidBody();
  auto r = Inspect(issuer_.SignToWire(body));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"id\": \"" + ToHex(body.id()) + "\""));
  EXPECT_THAT(r.out, HasSubstr("\"port\": 5432"));
  EXPECT_THAT(r.out, HasSubstr("\"node_id\": \"node-a\""));
  EXPECT_THAT(r.out, HasSubstr("\"workload_path\": \"/taogate/w1\""));
}

TEST_F(InspectTest, MalformedFileFailsWithOneLine) {
  auto r = Inspect("this is not a tao");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("malformed TAO"));
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_TRUE(r.out.empty());
}

TEST_F(InspectTest, BadSignatureFailsWithOneLine) {
  v1::Tao tao = issuer_.Sign(issuer_.ValidBody());
  std::string sig = tao.signature();
  sig[0] ^= 0x80;
  tao.set_signature(sig);
  auto r = Inspect(tao.SerializeAsString());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("bad signature"));
  EXPECT_EQ(Lines(r.err), 1);
}

TEST_F(InspectTest, MissingFileFails) {
  auto r = RunCommand({BinPath("taogatectl"), "tao", "inspect", "/nonexistent/tao.bin"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("cannot open"));
}

TEST(BinariesTest, AnswerHelpAndVersion) {
  for (const char* bin : {"taogatectl", "taogate-agent", "taogate-governor"}) {
    auto v = RunCommand({BinPath(bin), "--version"});
    EXPECT_EQ(v.exit_code, 0) << bin;
    EXPECT_THAT(v.out, HasSubstr(bin));
    auto h = RunCommand({BinPath(bin), "--help"});
    EXPECT_EQ(h.exit_code, 0) << bin;
    EXPECT_THAT(h.out, HasSubstr("Usage"));
  }
}

}  // namespace
}  // namespace taogate::testing
