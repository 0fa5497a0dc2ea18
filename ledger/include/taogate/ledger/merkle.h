// RFC 6962 / RFC 9162 Merkle tree: leaf hash SHA-256(0x00 || data), node hash
// SHA-256(0x01 || left || right), empty root SHA-256("").
//
// MerkleTree keeps every complete subtree hash (about 2 hashes per leaf), so
// roots and proofs for any earlier tree size cost O(log^2 n) hashes.
// MerkleTree is NOT thread-safe; the Ledger guards its tree with a lock.
// The Verify* functions are pure and thread-safe (auditor side).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace taogate::ledger {

using Hash = std::array<uint8_t, 32>;

Hash LeafHash(std::string_view leaf_data);
Hash NodeHash(const Hash& left, const Hash& right);
Hash EmptyRoot();

class MerkleTree {
 public:
  void Append(const Hash& leaf_hash);
  uint64_t Size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  // Leaf hash at `index` (< Size()).
  const Hash& Leaf(uint64_t index) const { return levels_[0][index]; }
  // Root of the first `size` leaves; OutOfRange if size > Size().
  absl::StatusOr<Hash> RootAt(uint64_t size) const;
  // Audit path for leaf `index` in the tree of the first `size` leaves.
  absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size) const;
  // RFC 6962 consistency proof between tree sizes 1 <= size1 <= size2
  // (InvalidArgument for size1 == 0: every tree extends the empty tree).
  absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2) const;

 private:
  // Hash of leaves [begin, end); begin is aligned as in the RFC 6962 recursion.
  Hash Subtree(uint64_t begin, uint64_t end) const;
  void Path(uint64_t index, uint64_t begin, uint64_t end, std::vector<Hash>& out) const;
  void SubProof(uint64_t m, uint64_t begin, uint64_t end, bool complete,
                std::vector<Hash>& out) const;

  // levels_[k][i] = hash of the complete subtree of 2^k leaves starting at i*2^k.
  std::vector<std::vector<Hash>> levels_;
};

// OK iff `proof` proves leaf `leaf_hash` at `index` in a tree of `size` with `root`.
// InvalidArgument for impossible parameters, DataLoss for a proof that fails.
absl::Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                             std::span<const Hash> proof, const Hash& root);
// OK iff `proof` proves that the tree (size2, root2) extends (size1, root1);
// size1 must be >= 1 (as in the transparency-dev/merkle vectors).
absl::Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof,
                               const Hash& root1, const Hash& root2);

}  // namespace taogate::ledger
