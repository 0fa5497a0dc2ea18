// Parsing the fixture and the shipped examples; the bundle address.
#include <gtest/gtest.h>

#include <filesystem>

#include "policy_testing.h"
#include "taogate/common/hex.h"
#include "testing/testing.h"

namespace taogate::policies {
namespace {

namespace fs = std::filesystem;
using namespace testing;

TEST(LoaderTest, ParsesEverySection) {
  auto p = TestPolicy();
  const Bundle& b = p->bundle();
  EXPECT_EQ(b.name, "test-bundle");
  ASSERT_EQ(b.roles.size(), 4u);
  ASSERT_EQ(b.actors.size(), 6u);
  EXPECT_EQ(b.actors[1].identity, kWriter);
  EXPECT_EQ(b.actors[4].roles, (std::vector<Index>{2, 3}));  // bob: dba, oncall
  ASSERT_EQ(b.actors[3].approver_keys.size(), 1u);
  EXPECT_EQ(b.actors[3].approver_keys[0], ApproverKey(1).PublicKey());
  ASSERT_EQ(b.workloads.size(), 2u);
  EXPECT_EQ(b.workloads[0].pod_labels.at("app"), "reporter");
  ASSERT_EQ(b.targets.size(), 5u);
  EXPECT_EQ(b.targets[0].networks.size(), 2u);
  EXPECT_EQ(b.targets[1].networks[0].port_lo, 8443);
  EXPECT_TRUE(b.targets[1].networks[0].tcp && b.targets[1].networks[0].udp);
  EXPECT_EQ(b.action_classes[2].ttl_seconds, 120u);
  ASSERT_EQ(b.rules.size(), 5u);
  EXPECT_EQ(b.rules[0].ttl_seconds, 20u);
  EXPECT_TRUE(b.rules[1].actions.any);
  EXPECT_EQ(b.rules[2].effect, RuleEffect::kRequireApproval);
  EXPECT_EQ(b.rules[2].approval->count, 2u);
  ASSERT_TRUE(b.rate_limits.default_limit.has_value());
  EXPECT_DOUBLE_EQ(b.rate_limits.default_limit->tokens_per_second, 2.0);
  EXPECT_DOUBLE_EQ(b.rate_limits.per_actor.at(kWriter).tokens_per_second, 1.0);
  ASSERT_EQ(b.break_glass.size(), 1u);
  EXPECT_EQ(b.break_glass[0].max_ttl_seconds, 900u);
}

std::vector<fs::path> Examples() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(TAOGATE_SOURCE_DIR) / "policies/examples")) {
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  }
  return out;
}

TEST(LoaderTest, EveryExampleValidates) {
  auto examples = Examples();
  ASSERT_GE(examples.size(), 2u);
  for (const auto& path : examples) {
    std::vector<ValidationError> errors;
    auto p = Policy::LoadFile(path.string(), &errors);
    EXPECT_TRUE(p.ok()) << path << ": " << p.status();
  }
}

TEST(LoaderTest, HashIsSha256OfExactFileBytesLikeSha256sum) {
  for (const auto& path : Examples()) {
    auto p = Policy::LoadFile(path.string());
    ASSERT_TRUE(p.ok());
    auto r = taogate::testing::RunCommand({"/usr/bin/sha256sum", path.string()});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out.substr(0, 64), (*p)->HashHex()) << path;
  }
}

TEST(LoaderTest, HashIsStableAcrossLoads) {
  EXPECT_EQ(TestPolicy()->hash(), TestPolicy()->hash());
  EXPECT_EQ(TestPolicy()->HashHex(), ToHex(crypto::Sha256(TestBundleYaml())));
}

TEST(LoaderTest, AnyByteChangeIsANewBundle) {
  // Same meaning, different bytes: a comment. The address changes on purpose.
  auto a = Policy::Load(TestBundleYaml(), "a");
  auto b = Policy::Load(TestBundleYaml() + "# reviewed\n", "b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->hash(), (*b)->hash());
}

TEST(LoaderTest, PemApproverKeyAccepted) {
  auto key = ApproverKey(7);
  std::string pem = crypto::Ed25519PublicKeyToPem(key.PublicKey());
  std::string indented;
  for (size_t i = 0; i < pem.size();) {
    size_t j = pem.find('\n', i);
    if (j == std::string::npos) j = pem.size();
    if (j > i) indented += "        " + pem.substr(i, j - i) + "\n";
    i = j + 1;
  }
  std::string y = "version: 1\nname: pem\nroles: [{id: r}]\nactors:\n"
                  "  - identity: spiffe://x/a\n    roles: [r]\n    approver_keys:\n      - |\n" +
                  indented;
  auto p = Policy::Load(y, "pem.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->bundle().actors[0].approver_keys[0], key.PublicKey());
}

TEST(LoaderTest, ReadFileRefusesMissingFile) {
  std::string bytes;
  EXPECT_EQ(ReadBundleFile("/nonexistent/policy.yaml", &bytes).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace taogate::policies
