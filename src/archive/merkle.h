// Merkle tree hashing and proofs as specified by RFC 9162 (Certificate Transparency 2.0),
// section 2.1: leaf hash SHA-256(0x00 || d), interior node SHA-256(0x01 || left || right),
// MTH over n leaves splitting at the largest power of two smaller than n; audit paths
// (inclusion proofs) and consistency proofs, and the verification algorithms of 2.1.3.2 and
// 2.1.4.2, which say *why* a proof fails.
//
// The archive ledger (ledger.h) is such a log. CompactTree keeps only the O(log n) roots of
// the perfect subtrees ("frontier"), so appending and reading the root cost O(log n);
// proofs are computed from the stored leaf hashes. Pure functions and a value type:
// no I/O, not thread-safe (the ledger serialises access).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim::archive {

using Hash = std::array<uint8_t, 32>;

Hash sha256(std::span<const uint8_t> data);
Hash leaf_hash(std::span<const uint8_t> data);
Hash node_hash(const Hash& left, const Hash& right);
std::string to_hex(const Hash& h);
Result<Hash> hash_from_hex(std::string_view hex);

// MTH(D[0:n]) over leaf hashes; the empty tree's root is SHA-256 of the empty string.
Hash root_from_leaves(std::span<const Hash> leaves);
// PATH(index, D[0:n]) and PROOF(m, D[0:n]).
std::vector<Hash> inclusion_proof(std::span<const Hash> leaves, uint64_t index);
std::vector<Hash> consistency_proof(std::span<const Hash> leaves, uint64_t old_size);

// RFC 9162 2.1.3.2: does `proof` show leaf `leaf` at `index` in the tree of `size` with `root`?
Status verify_inclusion(uint64_t index, uint64_t size, const Hash& leaf,
                        std::span<const Hash> proof, const Hash& root);
// RFC 9162 2.1.4.2: is the tree (new_size, new_root) an append-only extension of
// (old_size, old_root)?
Status verify_consistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                          const Hash& new_root, std::span<const Hash> proof);

// Append-only tree state: size and the roots of its perfect subtrees, largest first.
class CompactTree {
 public:
  void append(const Hash& leaf);
  uint64_t size() const { return size_; }
  Hash root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> frontier_;  // one per set bit of size_, most significant first
};

}  // namespace verbatim::archive
