// taogatectl keys end to end: init writes a trust bundle, verify checks a
// TAO against it (strict refuses software mode), bundle-add rotates roots.
#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "taogate/keys/keys_init.h"

namespace taogate::keys {
namespace {

using taogate::testing::BinPath;
using taogate::testing::RunCommand;
using taogate::testing::WriteFile;

class KeysCliTest : public testing::SwtpmTest {
 protected:
  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }
  std::string WriteTao(RootSigner& root, const std::string& name) {
    auto m = IssuingKeyManager::Create(&root, testing::TestIssuingOptions());
    EXPECT_TRUE(m.ok()) << m.status();
    auto t = (*m)->SignTao(testing::ValidTaoBody());
    EXPECT_TRUE(t.ok()) << t.status();
    WriteFile(Path(name), t->SerializeAsString());
    return Path(name);
  }
  taogate::testing::CommandResult Verify(const std::string& tao, bool strict) {
    std::vector<std::string> argv = {BinPath("taogatectl"), "keys", "verify", "--trust-bundle", Path("bundle.json")};
    if (strict) argv.push_back("--strict");
    argv.push_back(tao);
    return RunCommand(argv);
  }
};

TEST_F(KeysCliTest, InitBundleThenVerifyStrict) {
  auto init = RunCommand({BinPath("taogatectl"), "keys", "init", "--tcti", tcti(), "--name", "gov-a",
                          "--trust-bundle-out", Path("bundle.json")});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  TpmRootSignerOptions so;
  so.tcti = tcti();
  auto root = TpmRootSigner::Open(so);
  ASSERT_TRUE(root.ok()) << root.status();
  std::string tao = WriteTao(**root, "tao.bin");

  auto ok = Verify(tao, /*strict=*/true);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("certified by root gov-a (TPM)"), std::string::npos) << ok.out;

  v1::Tao t;
  ASSERT_TRUE(t.ParseFromString(taogate::testing::ReadFile(tao)));
  (*t.mutable_signature())[3] ^= 0x20;
  WriteFile(Path("tampered.bin"), t.SerializeAsString());
  auto bad = Verify(Path("tampered.bin"), true);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("TAO signature does not verify"), std::string::npos) << bad.err;
}

TEST_F(KeysCliTest, SoftwareRootAddedToBundleIsRefusedInStrictMode) {
  ASSERT_EQ(RunCommand({BinPath("taogatectl"), "keys", "init", "--tcti", tcti(), "--trust-bundle-out",
                        Path("bundle.json")}).exit_code, 0);
  auto soft = *SoftwareRootSigner::Generate();
  WriteFile(Path("dev.pem"), soft->public_key().ToPem());
  auto add = RunCommand({BinPath("taogatectl"), "keys", "bundle-add", "--trust-bundle", Path("bundle.json"),
                         "--pem", Path("dev.pem"), "--name", "dev", "--software"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::string tao = WriteTao(*soft, "soft.bin");
  auto lax = Verify(tao, false);
  EXPECT_EQ(lax.exit_code, 0) << lax.err;
  EXPECT_NE(lax.out.find("SOFTWARE MODE"), std::string::npos) << lax.out;
  auto strict = Verify(tao, true);
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_NE(strict.err.find("refused in strict mode"), std::string::npos) << strict.err;
}

TEST_F(KeysCliTest, InitWithoutTpmFailsWithAClearError) {
  auto r = RunCommand({BinPath("taogatectl"), "keys", "init", "--tcti",
                       "swtpm:path=" + Path("nothing.sock")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("TPM missing or unreachable"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taogate::keys
