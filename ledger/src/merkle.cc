// SHA-256 here uses OpenSSL's one-shot low-level API: the EVP path costs a
// context allocation and a method fetch per hash, which dominates for the
// 33..65-byte inputs of a Merkle tree.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "taogate/ledger/merkle.h"

#include <openssl/sha.h>

#include <bit>

#include "taogate/common/strings.h"

namespace taogate::ledger {
namespace {

uint64_t LargestPowerOfTwoBelow(uint64_t n) {  // n >= 2
  return std::bit_floor(n - 1);
}

absl::Status Mismatch(std::string_view what) {
  return absl::DataLossError(StrCat("proof does not verify: ", what));
}

Hash ChainInner(Hash seed, std::span<const Hash> proof, uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i)
    seed = ((index >> i) & 1) == 0 ? NodeHash(seed, proof[i]) : NodeHash(proof[i], seed);
  return seed;
}
Hash ChainInnerRight(Hash seed, std::span<const Hash> proof, uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i)
    if (((index >> i) & 1) == 1) seed = NodeHash(proof[i], seed);
  return seed;
}
Hash ChainBorderRight(Hash seed, std::span<const Hash> proof) {
  for (const Hash& h : proof) seed = NodeHash(h, seed);
  return seed;
}
// Sizes of the inner and border parts of an inclusion proof (RFC 9162 2.1.3.2).
std::pair<size_t, size_t> DecompInclusion(uint64_t index, uint64_t size) {
  size_t inner = static_cast<size_t>(std::bit_width(index ^ (size - 1)));
  size_t border = static_cast<size_t>(std::popcount(index >> inner));
  return {inner, border};
}

}  // namespace

Hash LeafHash(std::string_view leaf_data) {
  SHA256_CTX c;
  SHA256_Init(&c);
  const uint8_t prefix = 0x00;
  SHA256_Update(&c, &prefix, 1);
  SHA256_Update(&c, leaf_data.data(), leaf_data.size());
  Hash h;
  SHA256_Final(h.data(), &c);
  return h;
}

Hash NodeHash(const Hash& left, const Hash& right) {
  uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, buf, sizeof(buf));
  Hash h;
  SHA256_Final(h.data(), &c);
  return h;
}

Hash EmptyRoot() {
  SHA256_CTX c;
  SHA256_Init(&c);
  Hash h;
  SHA256_Final(h.data(), &c);
  return h;
}

void MerkleTree::Append(const Hash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  for (size_t k = 0; levels_[k].size() % 2 == 0; ++k) {
    if (levels_.size() == k + 1) levels_.emplace_back();
    const auto& lv = levels_[k];
    levels_[k + 1].push_back(NodeHash(lv[lv.size() - 2], lv[lv.size() - 1]));
  }
}

Hash MerkleTree::Subtree(uint64_t begin, uint64_t end) const {
  uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    int k = std::countr_zero(n);
    return levels_[static_cast<size_t>(k)][begin >> k];
  }
  uint64_t k = LargestPowerOfTwoBelow(n);
  return NodeHash(Subtree(begin, begin + k), Subtree(begin + k, end));
}

absl::StatusOr<Hash> MerkleTree::RootAt(uint64_t size) const {
  if (size > Size()) return absl::OutOfRangeError(StrCat("tree size ", size, " > ", Size()));
  if (size == 0) return EmptyRoot();
  return Subtree(0, size);
}

void MerkleTree::Path(uint64_t index, uint64_t begin, uint64_t end, std::vector<Hash>& out) const {
  if (end - begin <= 1) return;
  uint64_t k = LargestPowerOfTwoBelow(end - begin);
  if (index < begin + k) {
    Path(index, begin, begin + k, out);
    out.push_back(Subtree(begin + k, end));
  } else {
    Path(index, begin + k, end, out);
    out.push_back(Subtree(begin, begin + k));
  }
}

absl::StatusOr<std::vector<Hash>> MerkleTree::InclusionProof(uint64_t index, uint64_t size) const {
  if (size > Size()) return absl::OutOfRangeError(StrCat("tree size ", size, " > ", Size()));
  if (index >= size) return absl::OutOfRangeError(StrCat("leaf ", index, " not in tree of size ", size));
  std::vector<Hash> out;
  Path(index, 0, size, out);
  return out;
}

void MerkleTree::SubProof(uint64_t m, uint64_t begin, uint64_t end, bool complete,
                          std::vector<Hash>& out) const {
  uint64_t n = end - begin;
  if (m == n) {
    if (!complete) out.push_back(Subtree(begin, end));
    return;
  }
  uint64_t k = LargestPowerOfTwoBelow(n);
  if (m <= k) {
    SubProof(m, begin, begin + k, complete, out);
    out.push_back(Subtree(begin + k, end));
  } else {
    SubProof(m - k, begin + k, end, false, out);
    out.push_back(Subtree(begin, begin + k));
  }
}

absl::StatusOr<std::vector<Hash>> MerkleTree::ConsistencyProof(uint64_t size1, uint64_t size2) const {
  if (size2 > Size()) return absl::OutOfRangeError(StrCat("tree size ", size2, " > ", Size()));
  if (size1 > size2) return absl::InvalidArgumentError(StrCat("size1 ", size1, " > size2 ", size2));
  if (size1 == 0) return absl::InvalidArgumentError("a consistency proof from the empty tree is meaningless");
  std::vector<Hash> out;
  if (size1 == size2) return out;
  SubProof(size1, 0, size2, true, out);
  return out;
}

absl::Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                             std::span<const Hash> proof, const Hash& root) {
  if (index >= size) return absl::InvalidArgumentError(StrCat("index ", index, " >= size ", size));
  auto [inner, border] = DecompInclusion(index, size);
  if (proof.size() != inner + border)
    return Mismatch(StrCat("wrong proof length ", proof.size(), ", want ", inner + border));
  Hash r = ChainInner(leaf_hash, proof.first(inner), index);
  r = ChainBorderRight(r, proof.subspan(inner));
  if (r != root) return Mismatch("computed root differs");
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof,
                               const Hash& root1, const Hash& root2) {
  if (size2 < size1) return absl::InvalidArgumentError(StrCat("size2 ", size2, " < size1 ", size1));
  if (size1 == 0) return absl::InvalidArgumentError("a consistency proof from the empty tree is meaningless");
  if (size1 == size2) {
    if (!proof.empty()) return Mismatch("non-empty proof for equal sizes");
    return root1 == root2 ? absl::OkStatus() : Mismatch("roots differ for equal sizes");
  }
  if (proof.empty()) return Mismatch("empty proof");
  auto [inner, border] = DecompInclusion(size1 - 1, size2);
  size_t shift = static_cast<size_t>(std::countr_zero(size1));
  inner -= shift;  // shift < inner because size1 < size2
  Hash seed = proof[0];
  size_t start = 1;
  if (size1 == (uint64_t{1} << shift)) {
    seed = root1;
    start = 0;
  }
  if (proof.size() != start + inner + border)
    return Mismatch(StrCat("wrong proof length ", proof.size(), ", want ", start + inner + border));
  proof = proof.subspan(start);
  uint64_t mask = (size1 - 1) >> shift;
  Hash h1 = ChainBorderRight(ChainInnerRight(seed, proof.first(inner), mask), proof.subspan(inner));
  if (h1 != root1) return Mismatch("first root differs");
  Hash h2 = ChainBorderRight(ChainInner(seed, proof.first(inner), mask), proof.subspan(inner));
  if (h2 != root2) return Mismatch("second root differs");
  return absl::OkStatus();
}

}  // namespace taogate::ledger
