#include "taogate/ledger/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "taogate/ledger/base64.h"

namespace taogate::ledger {
namespace {

TEST(Crc32cTest, StandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cExtendPortable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, KnownVectorsFromRfc3720) {
  std::string zeros(32, '\0'), ones(32, '\xff'), inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[static_cast<size_t>(i)] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, HardwareAndPortableAgreeAndExtendComposes) {
  std::mt19937 rng(7);
  for (size_t len = 0; len < 300; ++len) {
    std::string s(len, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    uint32_t whole = Crc32c(s);
    EXPECT_EQ(whole, Crc32cExtendPortable(0, s.data(), s.size()));
    size_t cut = len / 3;
    EXPECT_EQ(whole, Crc32cExtend(Crc32c(s.data(), cut), s.data() + cut, len - cut));
  }
}

TEST(Base64Test, RoundTripAndStrictDecode) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(Base64Encode(std::string("foobar")), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("fo")), "Zm8=");
  EXPECT_FALSE(Base64Decode("Zm8").ok());
  EXPECT_FALSE(Base64Decode("Zm9=").ok());  // non-canonical bits
  EXPECT_FALSE(Base64Decode("Zm*=").ok());
  EXPECT_FALSE(Base64Decode("=m8=").ok());
}

}  // namespace
}  // namespace taogate::ledger
