// One test per validation error: each asserts the error's line, column, field
// path and message, i.e. exactly what `taogatectl policy validate` prints.
#include <gtest/gtest.h>

#include "policy_testing.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"

namespace taogate::policies {
namespace {

using testing::Errors;

// 20 valid lines; tests append from line 21.
std::string Base() {
  return "version: 1\n"                      // 1
         "name: v\n"                         // 2
         "roles:\n"                          // 3
         "  - id: r\n"                       // 4
         "actors:\n"                         // 5
         "  - identity: spiffe://x/a\n"      // 6
         "    roles: [r]\n"                  // 7
         "workloads:\n"                      // 8
         "  - id: w\n"                       // 9
         "    selectors:\n"                  // 10
         "      nodes: [n1]\n"               // 11
         "targets:\n"                        // 12
         "  - id: t\n"                       // 13
         "    networks:\n"                   // 14
         "      - cidrs: [10.0.0.0/8]\n"     // 15
         "        ports: [80]\n"             // 16
         "        protocols: [tcp]\n"        // 17
         "action_classes:\n"                 // 18
         "  - id: a\n"                       // 19
         "    ttl: 10s\n";                   // 20
}

// A valid rule at lines 22.. with `extra` lines appended inside it.
std::string Rule(const std::string& effect, const std::string& extra = "") {
  return "rules:\n"                          // 21
         "  - id: r1\n"                      // 22
         "    effect: " + effect + "\n"      // 23
         "    roles: [r]\n"                  // 24
         "    workloads: [w]\n"              // 25
         "    actions: [a]\n"                // 26
         "    targets: [t]\n"                // 27
         + extra;                            // 28..
}

void ExpectOnly(const std::string& yaml, int line, int col, const std::string& path,
                const std::string& msg) {
  auto errs = Errors(yaml);
  ASSERT_EQ(errs.size(), 1u) << (errs.empty() ? "no error" : errs[0].ToString() + "\n" +
                                                                 errs.back().ToString());
  EXPECT_EQ(errs[0].file, "b.yaml");
  EXPECT_EQ(errs[0].line, line) << errs[0].ToString();
  EXPECT_EQ(errs[0].column, col) << errs[0].ToString();
  EXPECT_EQ(errs[0].path, path) << errs[0].ToString();
  EXPECT_NE(errs[0].message.find(msg), std::string::npos) << errs[0].ToString();
}

TEST(ValidationTest, BaseAndRuleAreValid) {
  EXPECT_TRUE(Errors(Base() + Rule("allow")).empty());
}

TEST(ValidationTest, FormatIsFileLineColPathMessage) {
  auto errs = Errors(Base() + "colour: blue\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].ToString(), "b.yaml:21:1: colour: unknown field");
}

TEST(ValidationTest, UnknownNestedField) {
  ExpectOnly(Base() + Rule("allow", "    actoins: [a]\n"), 28, 5, "rules[0].actoins",
             "unknown field");
}

TEST(ValidationTest, DuplicateField) {
  ExpectOnly(Base() + Rule("allow", "    effect: deny\n"), 28, 5, "rules[0].effect",
             "duplicate field");
}

TEST(ValidationTest, MissingRequiredFieldPointsAtItsMapping) {
  ExpectOnly(Base() + "rules:\n  - id: r1\n    effect: deny\n    roles: [r]\n"
                      "    workloads: [w]\n    actions: [a]\n",
             22, 5, "rules[0].targets", "required field is missing");
}

TEST(ValidationTest, BadEffect) {
  ExpectOnly(Base() + Rule("permit"), 23, 13, "rules[0].effect",
             "must be allow, deny or require_approval");
}

TEST(ValidationTest, BadDuration) {
  std::string y = Base();
  y.replace(y.find("ttl: 10s"), 8, "ttl: 10d");
  ExpectOnly(y, 20, 10, "action_classes[0].ttl", "not a duration");
}

TEST(ValidationTest, TtlAboveMax) {
  std::string y = Base();
  y.replace(y.find("ttl: 10s"), 8, "ttl: 2h");
  ExpectOnly(y, 20, 10, "action_classes[0].ttl", "between 1s and 3600s");
}

TEST(ValidationTest, CidrWithHostBits) {
  std::string y = Base();
  y.replace(y.find("10.0.0.0/8"), 10, "10.0.0.1/8");
  ExpectOnly(y, 15, 17, "targets[0].networks[0].cidrs[0]", "host bits set");
}

TEST(ValidationTest, PortOutOfRange) {
  std::string y = Base();
  y.replace(y.find("[80]"), 4, "[80, 70000]");
  ExpectOnly(y, 16, 21, "targets[0].networks[0].ports[1]", "port 1-65535");
}

TEST(ValidationTest, PortRangeReversed) {
  std::string y = Base();
  y.replace(y.find("[80]"), 4, "[\"90-80\"]");
  ExpectOnly(y, 16, 17, "targets[0].networks[0].ports[0]", "range LO-HI");
}

TEST(ValidationTest, UnknownProtocol) {
  std::string y = Base();
  y.replace(y.find("[tcp]"), 5, "[tcp, sctp]");
  ExpectOnly(y, 17, 26, "targets[0].networks[0].protocols[1]", "tcp or udp");
}

// Inserts `lines` as a second target (its first line becomes line 18).
std::string WithTarget(const std::string& lines) {
  std::string y = Base();
  return y.insert(y.find("action_classes:"), lines);
}

TEST(ValidationTest, RelativeOrDotDotPathsRefused) {
  ExpectOnly(WithTarget("  - id: f\n    file_paths: [/etc/ok/, etc/rel]\n"), 19, 28,
             "targets[1].file_paths[1]", "absolute canonical path");
  ExpectOnly(WithTarget("  - id: f\n    binaries: [/usr/../bin/sh]\n"), 19, 16,
             "targets[1].binaries[0]", "absolute canonical path");
}

TEST(ValidationTest, TargetWithoutAnything) {
  ExpectOnly(WithTarget("  - id: empty\n"), 18, 5, "targets[1]", "needs networks");
}

TEST(ValidationTest, DuplicateId) {
  ExpectOnly(Base() + "  - id: a\n    ttl: 5s\n", 21, 9, "action_classes[1].id",
             "duplicate action class 'a'");
}

TEST(ValidationTest, InvalidIdCharacters) {
  ExpectOnly(Base() + "  - id: \"bad id\"\n    ttl: 5s\n", 21, 9, "action_classes[1].id",
             "not a valid id");
}

TEST(ValidationTest, UnknownReferences) {
  std::string y = Base() + Rule("allow");
  ExpectOnly(std::string(y).replace(y.find("roles: [r]\n    workloads"), 10, "roles: [x]"), 24,
             13, "rules[0].roles[0]", "unknown role 'x'");
  ExpectOnly(std::string(y).replace(y.find("workloads: [w]"), 14, "workloads: [x]"), 25, 17,
             "rules[0].workloads[0]", "unknown workload 'x'");
  ExpectOnly(std::string(y).replace(y.find("actions: [a]"), 12, "actions: [x]"), 26, 15,
             "rules[0].actions[0]", "unknown action class 'x'");
  ExpectOnly(std::string(y).replace(y.find("targets: [t]"), 12, "targets: [x]"), 27, 15,
             "rules[0].targets[0]", "unknown target 'x'");
  ExpectOnly(Base() + Rule("allow", "    actors: [spiffe://x/nobody]\n"), 28, 14,
             "rules[0].actors[0]", "unknown actor 'spiffe://x/nobody'");
}

TEST(ValidationTest, WildcardMustStandAlone) {
  std::string y = Base() + Rule("allow");
  ExpectOnly(y.replace(y.find("targets: [t]"), 12, "targets: [t, \"*\"]"), 27, 18,
             "rules[0].targets[1]", "must be the only entry");
}

TEST(ValidationTest, WildcardRoleRefused) {
  std::string y = Base() + Rule("allow");
  ExpectOnly(y.replace(y.find("roles: [r]\n    workloads"), 10, "roles: [\"*\"]"), 24, 13,
             "rules[0].roles[0]", "not allowed here");
}

TEST(ValidationTest, RuleNeedsASubject) {
  std::string y = Base() + Rule("allow");
  ExpectOnly(y.replace(y.find("    roles: [r]\n    workloads"), 15, ""), 22, 5,
             "rules[0].actors", "needs actors or roles");
}

TEST(ValidationTest, RequireApprovalNeedsApproval) {
  ExpectOnly(Base() + Rule("require_approval"), 22, 5, "rules[0].approval",
             "required when effect is require_approval");
}

TEST(ValidationTest, ApprovalOnlyWithRequireApproval) {
  ExpectOnly(Base() + Rule("allow", "    approval: {roles: [r], count: 1}\n"), 28, 5,
             "rules[0].approval", "only allowed when effect is require_approval");
}

TEST(ValidationTest, ApprovalCountNobodyCanMeet) {
  // No actor has approver_keys, so even one approval is impossible.
  ExpectOnly(Base() + Rule("require_approval", "    approval: {roles: [r], count: 1}\n"), 28,
             35, "rules[0].approval.count", "only 0 actors");
}

TEST(ValidationTest, ApprovalCountZero) {
  ExpectOnly(Base() + Rule("require_approval", "    approval: {roles: [r], count: 0}\n"), 28,
             35, "rules[0].approval.count", "between 1 and 16");
}

TEST(ValidationTest, BadApproverKey) {
  std::string y = Base();
  y.replace(y.find("    roles: [r]\nworkloads"), 24,
            "    roles: [r]\n    approver_keys: [abcd]\nworkloads");
  ExpectOnly(y, 8, 21, "actors[0].approver_keys[0]", "64 hex digits");
}

TEST(ValidationTest, ApproverKeySharedByTwoActorsRefused) {
  std::string key = ToHex(testing::ApproverKey(1).PublicKey());
  std::string y = Base();
  y.replace(y.find("    roles: [r]\nworkloads"), 24,
            "    roles: [r]\n    approver_keys: [" + key + "]\n"
            "  - identity: spiffe://x/b\n    roles: [r]\n    approver_keys: [" + key +
                "]\nworkloads");
  ExpectOnly(y, 11, 21, "actors[1].approver_keys[0]", "already listed");
}

// A WebAuthn credential (console approvers, docs/approvals.md): an EC P-256
// SubjectPublicKeyInfo, nothing else.
constexpr char kP256Spki[] =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEleCW66BPeXi3eJjB5cM+lLCF715nTZkHwTHVO97P1xF4IrhSEu+m2Iq0uogGrH1C1r8aGbB7xlmIuBSKd5blkA==";
constexpr char kP384Spki[] =
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEBDqmPjpYDwzfH16MhhnSjxM8afARmm9BowyXTtjhhmu6Hg2KxHPhQev0BDgyZ1H0HisMj2VnbXV1FyM3hX25"
    "TqgtZ0OShB7FT/ClkPsbOkWB1RtdieDAoQZbzGbIuySe";

std::string WithCredential(const std::string& id, const std::string& key) {
  std::string y = Base();
  y.replace(y.find("    roles: [r]\nworkloads"), 24,
            "    roles: [r]\n    webauthn_credentials:\n      - id: " + id + "\n        public_key: " + key +
                "\nworkloads");
  return y;
}

TEST(ValidationTest, WebAuthnCredentialMakesAnApprover) {
  // The count a rule needs is met by a WebAuthn credential as by a key.
  EXPECT_TRUE(Errors(WithCredential("Y3JlZC0x", kP256Spki) +
                     Rule("require_approval", "    approval: {roles: [r], count: 1}\n"))
                  .empty());
}

TEST(ValidationTest, WebAuthnCredentialMustBeBase64urlIdAndP256Key) {
  ExpectOnly(WithCredential("not*base64", kP256Spki), 9, 13, "actors[0].webauthn_credentials[0].id", "base64url");
  ExpectOnly(WithCredential("Y3JlZC0x", kP384Spki), 10, 21, "actors[0].webauthn_credentials[0].public_key",
             "EC P-256");
  ExpectOnly(WithCredential("Y3JlZC0x", "bm90IGEga2V5"), 10, 21, "actors[0].webauthn_credentials[0].public_key",
             "EC P-256");
}

TEST(ValidationTest, WebAuthnCredentialSharedByTwoActorsRefused) {
  std::string y = Base();
  const std::string cred = std::string("    webauthn_credentials:\n      - id: Y3JlZC0x\n        public_key: ") +
                           kP256Spki + "\n";
  y.replace(y.find("    roles: [r]\nworkloads"), 24,
            "    roles: [r]\n" + cred + "  - identity: spiffe://x/b\n    roles: [r]\n" + cred + "workloads");
  ExpectOnly(y, 14, 9, "actors[1].webauthn_credentials[0]", "already listed");
}

TEST(ValidationTest, WorkloadNeedsASelector) {
  std::string y = Base();
  y.replace(y.find("      nodes: [n1]\n"), 18, "      {}\n");
  auto errs = Errors(y);
  ASSERT_FALSE(errs.empty());
  EXPECT_EQ(errs[0].path, "workloads[0].selectors");
  EXPECT_EQ(errs[0].line, 11);
}

TEST(ValidationTest, BreakGlassRefusesWildcardTargets) {
  ExpectOnly(Base() + "break_glass:\n  - id: bg\n    roles: [r]\n    actions: [a]\n"
                      "    targets: [\"*\"]\n    max_ttl: 5m\n",
             25, 15, "break_glass[0].targets[0]", "not allowed here");
}

TEST(ValidationTest, BreakGlassTtlBounded) {
  ExpectOnly(Base() + "break_glass:\n  - id: bg\n    roles: [r]\n    actions: [a]\n"
                      "    targets: [t]\n    max_ttl: 90m\n",
             26, 14, "break_glass[0].max_ttl", "between 1s and 3600s");
}

TEST(ValidationTest, RateLimitSyntax) {
  ExpectOnly(Base() + "rate_limits:\n  default: {rate: 10/d, burst: 5}\n", 22, 19,
             "rate_limits.default.rate", "N/s, N/m or N/h");
  ExpectOnly(Base() + "rate_limits:\n  actors:\n    - {identity: spiffe://x/zz, rate: 1/s, "
                      "burst: 1}\n", 23, 18, "rate_limits.actors[0].identity", "unknown actor");
}

TEST(ValidationTest, WrongVersion) {
  std::string y = Base();
  y.replace(0, 10, "version: 2");
  ExpectOnly(y, 1, 10, "version", "between 1 and 1");
}

TEST(ValidationTest, ControlCharacterInString) {
  ExpectOnly(Base() + "description: \"tab\\there\"\n", 21, 14, "description",
             "control characters");
}

TEST(ValidationTest, YamlSyntaxErrorHasPosition) {
  auto errs = Errors("version: 1\nname: [x\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].line, 3);
  EXPECT_EQ(errs[0].path, "");
  EXPECT_NE(errs[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(ValidationTest, RootMustBeAMapping) {
  ExpectOnly("- just\n- a list\n", 1, 1, "", "must be a mapping");
}

TEST(ValidationTest, EmptyDocumentMissesRequiredFields) {
  auto errs = Errors("");
  ASSERT_FALSE(errs.empty());
}

TEST(ValidationTest, EveryErrorReportedInFileOrder) {
  std::string y = Base() + Rule("permit", "    ttl: 0s\n    bogus: 1\n");
  y.replace(y.find("10.0.0.0/8"), 10, "10.0.0.1/8");
  auto errs = Errors(y);
  ASSERT_EQ(errs.size(), 4u);
  EXPECT_EQ(errs[0].line, 15);
  EXPECT_EQ(errs[1].line, 23);
  EXPECT_EQ(errs[2].line, 28);
  EXPECT_EQ(errs[3].line, 29);
  auto p = Policy::Load(y, "b.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(p.status().message()).find("b.yaml:15:17: "), 0u);
}

TEST(ValidationTest, OversizedBundleRefused) {
  std::string y = Base() + "description: \"" + std::string(kMaxBundleBytes, 'x') + "\"\n";
  auto errs = Errors(y);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].message.find("larger than"), std::string::npos);
}

}  // namespace
}  // namespace taogate::policies

namespace taogate::policies {
namespace {

TEST(ValidationHostileTest, DeepNestingIsAnErrorNotACrash) {
  std::string y = "version: 1\nname: x\ndescription: " + std::string(100000, '[') +
                  std::string(100000, ']') + "\n";
  auto errs = testing::Errors(y);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].line, 3);
}

TEST(ValidationHostileTest, AliasAmplificationStopsAtTheNodeBudget) {
  // 150 KB of YAML that names one 1,000-path list 6,000 times.
  std::string y = "version: 1\nname: x\ntargets:\n  - id: t0\n    file_paths: &p [";
  for (int i = 0; i < 1000; ++i) y += StrCat(i ? ", " : "", "/a/", i);
  y += "]\n";
  for (int t = 1; t < 6000; ++t) y += StrCat("  - {id: t", t, ", file_paths: *p}\n");
  auto errs = testing::Errors(y);
  ASSERT_FALSE(errs.empty());
  EXPECT_NE(errs[0].message.find("node budget"), std::string::npos) << errs[0].ToString();
}

}  // namespace
}  // namespace taogate::policies
