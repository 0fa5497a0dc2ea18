// Workload selectors on attested facts (namespaces, service_accounts,
// exe_paths, exe_sha256): loaded with FILE:LINE:COL errors, and matched only
// by a request whose facts a node agent attested.
#include <gtest/gtest.h>

#include <string>

#include "policy_testing.h"

namespace taogate::policies {
namespace {

using testing::Errors;

const std::string kHash(64, 'a');
const std::string kOtherHash(64, 'b');
constexpr char kActor[] = "spiffe://t.example/ns/shop/sa/reporter";

// Lines 1-12; the workload's selectors follow from line 13.
std::string Head() {
  return "version: 1\n"                             // 1
         "name: attested\n"                         // 2
         "roles:\n"                                 // 3
         "  - id: r\n"                              // 4
         "actors:\n"                                // 5
         "  - identity: " + std::string(kActor) + "\n"  // 6
         "    roles: [r]\n"                         // 7
         "action_classes:\n"                        // 8
         "  - id: db.read\n"                        // 9
         "    ttl: 60s\n"                           // 10
         "workloads:\n"                             // 11
         "  - id: w\n"                              // 12
         "    selectors:\n";                        // 13
}

std::string Tail() {
  return "targets:\n"
         "  - id: db\n"
         "    networks:\n"
         "      - {cidrs: [10.0.0.0/8], ports: [5432], protocols: [tcp]}\n"
         "rules:\n"
         "  - id: read\n"
         "    effect: allow\n"
         "    roles: [r]\n"
         "    workloads: [w]\n"
         "    actions: [db.read]\n"
         "    targets: [db]\n";
}

void ExpectOnly(const std::string& selectors, int line, int col, const std::string& path,
                const std::string& msg) {
  auto errs = Errors(Head() + selectors + Tail());
  ASSERT_EQ(errs.size(), 1u) << (errs.empty() ? "no error" : errs[0].ToString());
  EXPECT_EQ(errs[0].line, line) << errs[0].ToString();
  EXPECT_EQ(errs[0].column, col) << errs[0].ToString();
  EXPECT_EQ(errs[0].path, path) << errs[0].ToString();
  EXPECT_NE(errs[0].message.find(msg), std::string::npos) << errs[0].ToString();
}

std::shared_ptr<const Policy> Load(const std::string& selectors) {
  std::vector<ValidationError> errs;
  auto p = Policy::Load(Head() + selectors + Tail(), "b.yaml", &errs);
  EXPECT_TRUE(p.ok()) << (errs.empty() ? p.status().ToString() : errs[0].ToString());
  return p.ok() ? *p : nullptr;
}

// What a node agent attests for the shop/reporter pod.
WorkloadAttributes Attested() {
  WorkloadAttributes w;
  w.node = "node-a";
  w.cgroup_path = "/kubepods/pod1";
  w.attested = true;
  w.k8s_namespace = "shop";
  w.service_account = "reporter";
  w.exe_path = "/usr/bin/python3";
  w.exe_sha256 = kHash;
  return w;
}

Effect Eval(const Policy& p, WorkloadAttributes w) {
  return p.Evaluate(testing::Req(kActor, "db.read", "tcp:10.0.0.5:5432", std::move(w))).effect;
}

TEST(AttestedSelectorsTest, AllFourLoad) {
  auto p = Load("      namespaces: [shop, web]\n"
                "      service_accounts: [shop/reporter]\n"
                "      exe_paths: [/usr/bin/python3]\n"
                "      exe_sha256: [" + kHash + "]\n");
  ASSERT_NE(p, nullptr);
  const WorkloadDef& w = p->bundle().workloads[0];
  EXPECT_EQ(w.namespaces, (std::vector<std::string>{"shop", "web"}));
  EXPECT_EQ(w.service_accounts, std::vector<std::string>{"shop/reporter"});
  EXPECT_EQ(w.exe_paths, std::vector<std::string>{"/usr/bin/python3"});
  EXPECT_EQ(w.exe_sha256, std::vector<std::string>{kHash});
  EXPECT_TRUE(w.AttestedOnly());
}

TEST(AttestedSelectorsTest, NamespaceNotADnsLabel) {
  ExpectOnly("      namespaces: [shop, Shop_1]\n", 14, 26, "workloads[0].selectors.namespaces[1]",
             "DNS-1123 label");
}

TEST(AttestedSelectorsTest, ServiceAccountWithoutNamespace) {
  ExpectOnly("      service_accounts: [reporter]\n", 14, 26,
             "workloads[0].selectors.service_accounts[0]", "namespace/name");
}

TEST(AttestedSelectorsTest, RelativeExePath) {
  ExpectOnly("      exe_paths: [bin/python3]\n", 14, 19, "workloads[0].selectors.exe_paths[0]",
             "absolute canonical");
}

TEST(AttestedSelectorsTest, UppercaseOrShortDigest) {
  ExpectOnly("      exe_sha256: [" + std::string(64, 'A') + "]\n", 14, 20,
             "workloads[0].selectors.exe_sha256[0]", "64 lowercase hex");
  ExpectOnly("      exe_sha256: [abcd]\n", 14, 20, "workloads[0].selectors.exe_sha256[0]",
             "64 lowercase hex");
}

TEST(AttestedSelectorsTest, EmptyListRefused) {
  ExpectOnly("      namespaces: []\n", 14, 19, "workloads[0].selectors.namespaces", "");
}

TEST(AttestedSelectorsTest, NamespaceMatchesOnlyAttestedNamespace) {
  auto p = Load("      namespaces: [shop]\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Eval(*p, Attested()), Effect::kPermit);
  WorkloadAttributes w = Attested();
  w.k8s_namespace = "web";
  EXPECT_EQ(Eval(*p, w), Effect::kDeny);
}

TEST(AttestedSelectorsTest, ServiceAccountIsNamespaceQualified) {
  auto p = Load("      service_accounts: [shop/reporter]\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Eval(*p, Attested()), Effect::kPermit);
  WorkloadAttributes w = Attested();
  w.k8s_namespace = "web";  // same name, other namespace
  EXPECT_EQ(Eval(*p, w), Effect::kDeny);
}

TEST(AttestedSelectorsTest, ExeDigestAndPath) {
  auto p = Load("      exe_paths: [/usr/bin/python3]\n"
                "      exe_sha256: [" + kHash + "]\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Eval(*p, Attested()), Effect::kPermit);
  WorkloadAttributes w = Attested();
  w.exe_sha256 = kOtherHash;  // same path, another binary
  EXPECT_EQ(Eval(*p, w), Effect::kDeny);
  w = Attested();
  w.exe_sha256.clear();
  EXPECT_EQ(Eval(*p, w), Effect::kDeny);
}

// The same facts, not attested (as a requester would declare them), select
// nothing that uses an attested-only selector, even next to a path selector
// they satisfy.
TEST(AttestedSelectorsTest, UnattestedFactsNeverMatch) {
  for (const std::string& sel : std::vector<std::string>{
           "      namespaces: [shop]\n", "      service_accounts: [shop/reporter]\n",
        "      exe_paths: [/usr/bin/python3]\n", "      exe_sha256: [" + kHash + "]\n",
        "      cgroup_paths: [/kubepods]\n      exe_sha256: [" + kHash + "]\n"}) {
    auto p = Load(sel);
    ASSERT_NE(p, nullptr) << sel;
    WorkloadAttributes w = Attested();
    w.attested = false;
    EXPECT_EQ(Eval(*p, w), Effect::kDeny) << sel;
    EXPECT_EQ(Eval(*p, Attested()), Effect::kPermit) << sel;
  }
}

// Without attested-only selectors nothing changes for unattested requests.
TEST(AttestedSelectorsTest, PathSelectorStillMatchesUnattested) {
  auto p = Load("      cgroup_paths: [/kubepods]\n");
  ASSERT_NE(p, nullptr);
  WorkloadAttributes w;
  w.cgroup_path = "/kubepods/pod1";
  EXPECT_EQ(Eval(*p, w), Effect::kPermit);
}

}  // namespace
}  // namespace taogate::policies
