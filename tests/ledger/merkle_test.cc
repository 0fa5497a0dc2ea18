// Merkle tree proofs against the RFC 6962 vectors (transparency-dev/merkle)
// and against a naive reference written straight from RFC 6962 section 2.1.
#include "taogate/ledger/merkle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "taogate/common/hex.h"
#include "taogate/common/crypto.h"
#include "taogate/ledger/base64.h"

namespace taogate::ledger {
namespace {

namespace fs = std::filesystem;
const fs::path kVectors = fs::path(TAOGATE_TESTDATA_DIR) / "rfc6962";

// The 8-leaf Certificate Transparency test tree.
const std::vector<std::string> kCtLeaves = {"", "00", "10", "2021", "3031", "40414243",
                                            "5051525354555657", "606162636465666768696a6b6c6d6e6f"};

std::string Unhex(std::string_view h) {
  auto v = FromHex(h);
  return std::string(v->begin(), v->end());
}

// Reference MTH and PATH/PROOF from RFC 6962 2.1, recursing on copies of the
// leaf data with EVP SHA-256 (a different code path from MerkleTree).
Hash RefHash(std::string_view prefix, std::string_view data) {
  auto d = crypto::Sha256(std::string(prefix) + std::string(data));
  Hash h;
  std::copy(d.begin(), d.end(), h.begin());
  return h;
}
uint64_t K(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
Hash RefMth(const std::vector<std::string>& d) {
  if (d.empty()) return RefHash("", "");
  if (d.size() == 1) return RefHash(std::string(1, '\0'), d[0]);
  uint64_t k = K(d.size());
  Hash l = RefMth({d.begin(), d.begin() + static_cast<long>(k)});
  Hash r = RefMth({d.begin() + static_cast<long>(k), d.end()});
  return RefHash("\x01", std::string(l.begin(), l.end()) + std::string(r.begin(), r.end()));
}
std::vector<Hash> RefPath(uint64_t m, const std::vector<std::string>& d) {
  if (d.size() <= 1) return {};
  uint64_t k = K(d.size());
  std::vector<std::string> left(d.begin(), d.begin() + static_cast<long>(k)), right(d.begin() + static_cast<long>(k), d.end());
  std::vector<Hash> p = m < k ? RefPath(m, left) : RefPath(m - k, right);
  p.push_back(m < k ? RefMth(right) : RefMth(left));
  return p;
}
std::vector<Hash> RefSubProof(uint64_t m, const std::vector<std::string>& d, bool b) {
  if (m == d.size()) return b ? std::vector<Hash>{} : std::vector<Hash>{RefMth(d)};
  uint64_t k = K(d.size());
  std::vector<std::string> left(d.begin(), d.begin() + static_cast<long>(k)), right(d.begin() + static_cast<long>(k), d.end());
  std::vector<Hash> p = m <= k ? RefSubProof(m, left, b) : RefSubProof(m - k, right, false);
  p.push_back(m <= k ? RefMth(right) : RefMth(left));
  return p;
}

std::optional<Hash> DecodeHash(const nlohmann::json& j) {
  auto s = Base64Decode(j.get<std::string>());
  if (!s.ok() || s->size() != 32) return std::nullopt;
  Hash h;
  std::copy(s->begin(), s->end(), reinterpret_cast<char*>(h.data()));
  return h;
}
std::optional<std::vector<Hash>> DecodeProof(const nlohmann::json& j) {
  std::vector<Hash> out;
  if (j.is_null()) return out;
  for (const auto& e : j) {
    auto h = DecodeHash(e);
    if (!h) return std::nullopt;
    out.push_back(*h);
  }
  return out;
}
// Roots in the vectors are sometimes placeholders ("don't care"); such a
// root can still be compared for equality, so map it to a stand-in hash.
Hash RootOrStandIn(const nlohmann::json& j) {
  if (auto h = DecodeHash(j)) return *h;
  Hash h = LeafHash("stand-in:" + j.get<std::string>());
  return h;
}
nlohmann::json Load(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

MerkleTree CtTree() {
  MerkleTree t;
  for (const auto& l : kCtLeaves) t.Append(LeafHash(Unhex(l)));
  return t;
}

TEST(MerkleTest, InclusionVectors) {
  MerkleTree tree = CtTree();
  int checked = 0, happy = 0;
  for (const auto& f : fs::recursive_directory_iterator(kVectors / "inclusion")) {
    if (!f.is_regular_file()) continue;
    {
      nlohmann::json j = Load(f.path());
      std::optional<Hash> root = RootOrStandIn(j["root"]);
      auto leaf = DecodeHash(j["leafHash"]);
      auto proof = DecodeProof(j["proof"]);
      uint64_t idx = j["leafIdx"], size = j["treeSize"];
      bool ok = root && leaf && proof && VerifyInclusion(idx, size, *leaf, *proof, *root).ok();
      EXPECT_EQ(ok, !j["wantErr"].get<bool>()) << f.path();
      ++checked;
      if (!j["wantErr"].get<bool>() && size <= tree.Size() && f.path().filename() == "happy-path.json") {
        // Our generator must produce exactly the vector's proof and root.
        EXPECT_EQ(*tree.InclusionProof(idx, size), *proof) << f.path();
        EXPECT_EQ(*tree.RootAt(size), *root) << f.path();
        ++happy;
      }
    }
  }
  EXPECT_GT(checked, 90);
  EXPECT_GE(happy, 4);
}

TEST(MerkleTest, ConsistencyVectors) {
  MerkleTree tree = CtTree();
  int checked = 0, happy = 0;
  for (const auto& f : fs::recursive_directory_iterator(kVectors / "consistency")) {
    if (!f.is_regular_file()) continue;
    {
      nlohmann::json j = Load(f.path());
      std::optional<Hash> r1 = RootOrStandIn(j["root1"]), r2 = RootOrStandIn(j["root2"]);
      auto proof = DecodeProof(j["proof"]);
      uint64_t s1 = j["size1"], s2 = j["size2"];
      bool ok = r1 && r2 && proof && VerifyConsistency(s1, s2, *proof, *r1, *r2).ok();
      EXPECT_EQ(ok, !j["wantErr"].get<bool>()) << f.path();
      ++checked;
      if (!j["wantErr"].get<bool>() && s2 <= tree.Size() && f.path().filename() == "happy-path.json") {
        EXPECT_EQ(*tree.ConsistencyProof(s1, s2), *proof) << f.path();
        ++happy;
      }
    }
  }
  EXPECT_GT(checked, 90);
  EXPECT_GE(happy, 4);
}

TEST(MerkleTest, MatchesReferenceForAllSmallTrees) {
  std::vector<std::string> data;
  MerkleTree tree;
  EXPECT_EQ(*tree.RootAt(0), RefMth({}));
  for (int i = 0; i < 40; ++i) {
    data.push_back(std::string(static_cast<size_t>(i % 7), static_cast<char>('a' + i)));
    tree.Append(LeafHash(data.back()));
  }
  for (uint64_t n = 0; n <= data.size(); ++n) {
    std::vector<std::string> prefix(data.begin(), data.begin() + static_cast<long>(n));
    Hash root = RefMth(prefix);
    ASSERT_EQ(*tree.RootAt(n), root) << n;
    for (uint64_t m = 0; m < n; ++m) {
      auto p = tree.InclusionProof(m, n);
      ASSERT_EQ(*p, RefPath(m, prefix)) << m << "/" << n;
      EXPECT_TRUE(VerifyInclusion(m, n, tree.Leaf(m), *p, root).ok());
      if (m > 0) {
        auto c = tree.ConsistencyProof(m, n);
        ASSERT_EQ(*c, RefSubProof(m, prefix, true)) << m << "->" << n;
        EXPECT_TRUE(VerifyConsistency(m, n, *c, *tree.RootAt(m), root).ok()) << m << "->" << n;
      }
    }
  }
}

TEST(MerkleTest, TamperedProofsFail) {
  MerkleTree tree;
  for (int i = 0; i < 13; ++i) tree.Append(LeafHash(std::to_string(i)));
  auto p = *tree.InclusionProof(5, 13);
  Hash root = *tree.RootAt(13);
  p[1][3] ^= 1;
  EXPECT_EQ(VerifyInclusion(5, 13, tree.Leaf(5), p, root).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(VerifyInclusion(5, 13, tree.Leaf(6), *tree.InclusionProof(5, 13), root).ok());
  auto c = *tree.ConsistencyProof(7, 13);
  EXPECT_FALSE(VerifyConsistency(7, 13, c, *tree.RootAt(6), root).ok());
  EXPECT_FALSE(tree.InclusionProof(13, 13).ok());
  EXPECT_FALSE(tree.RootAt(14).ok());
}

}  // namespace
}  // namespace taogate::ledger
