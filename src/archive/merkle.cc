#include "archive/merkle.h"

#include "archive/sha256.h"
#include "common/strings.h"

#include <bit>

namespace verbatim::archive {

namespace {

// Largest power of two strictly smaller than n (n >= 2).
uint64_t split_point(uint64_t n) { return std::bit_floor(n - 1); }

Hash mth(std::span<const Hash> leaves) {
  if (leaves.empty()) return sha256({});
  if (leaves.size() == 1) return leaves[0];
  const uint64_t k = split_point(leaves.size());
  return node_hash(mth(leaves.subspan(0, k)), mth(leaves.subspan(k)));
}

void path(uint64_t m, std::span<const Hash> leaves, std::vector<Hash>& out) {
  const uint64_t n = leaves.size();
  if (n <= 1) return;
  const uint64_t k = split_point(n);
  if (m < k) {
    path(m, leaves.subspan(0, k), out);
    out.push_back(mth(leaves.subspan(k)));
  } else {
    path(m - k, leaves.subspan(k), out);
    out.push_back(mth(leaves.subspan(0, k)));
  }
}

void subproof(uint64_t m, std::span<const Hash> leaves, bool complete, std::vector<Hash>& out) {
  const uint64_t n = leaves.size();
  if (m == n) {
    if (!complete) out.push_back(mth(leaves));
    return;
  }
  const uint64_t k = split_point(n);
  if (m <= k) {
    subproof(m, leaves.subspan(0, k), complete, out);
    out.push_back(mth(leaves.subspan(k)));
  } else {
    subproof(m - k, leaves.subspan(k), false, out);
    out.push_back(mth(leaves.subspan(0, k)));
  }
}

Error proof_error(const std::string& why) { return make_error(ErrorCode::kInvalidArgument, why); }

}  // namespace

Hash sha256(std::span<const uint8_t> data) { return Sha256::of(data); }

Hash leaf_hash(std::span<const uint8_t> data) {
  Sha256 h;
  const uint8_t prefix = 0x00;
  h.update({&prefix, 1});
  h.update(data);
  return h.final();
}

Hash node_hash(const Hash& left, const Hash& right) {
  uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  return sha256(buf);
}

std::string to_hex(const Hash& h) { return verbatim::to_hex(h); }

Result<Hash> hash_from_hex(std::string_view hex) {
  auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != 32) return proof_error("a hash is 64 hex digits");
  Hash h;
  std::copy(bytes->begin(), bytes->end(), h.begin());
  return h;
}

Hash root_from_leaves(std::span<const Hash> leaves) { return mth(leaves); }

std::vector<Hash> inclusion_proof(std::span<const Hash> leaves, uint64_t index) {
  std::vector<Hash> out;
  if (index < leaves.size()) path(index, leaves, out);
  return out;
}

std::vector<Hash> consistency_proof(std::span<const Hash> leaves, uint64_t old_size) {
  std::vector<Hash> out;
  if (old_size > 0 && old_size < leaves.size()) subproof(old_size, leaves, true, out);
  return out;
}

Status verify_inclusion(uint64_t index, uint64_t size, const Hash& leaf,
                        std::span<const Hash> proof, const Hash& root) {
  if (index >= size) return proof_error("leaf index is beyond the tree size");
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return proof_error("inclusion proof is longer than the tree is deep");
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return proof_error("inclusion proof is shorter than the tree is deep");
  if (r != root) return proof_error("inclusion proof does not lead to the tree head's root");
  return ok_status();
}

Status verify_consistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                          const Hash& new_root, std::span<const Hash> proof) {
  if (old_size > new_size) return proof_error("the tree shrank: new size is below old size");
  if (old_size == new_size) {
    if (!proof.empty()) return proof_error("consistency proof for equal sizes must be empty");
    if (old_root != new_root) return proof_error("same size, different root: the log forked");
    return ok_status();
  }
  if (old_size == 0) {
    if (!proof.empty()) return proof_error("consistency proof from the empty tree must be empty");
    return ok_status();
  }
  if (proof.empty()) return proof_error("consistency proof is empty");
  std::vector<Hash> p(proof.begin(), proof.end());
  // If old_size is a power of two, the old root is the first node of the path.
  if (std::has_single_bit(old_size)) p.insert(p.begin(), old_root);
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = p[0];
  Hash sr = p[0];
  for (size_t i = 1; i < p.size(); ++i) {
    if (sn == 0) return proof_error("consistency proof is longer than the tree is deep");
    if ((fn & 1) == 1 || fn == sn) {
      fr = node_hash(p[i], fr);
      sr = node_hash(p[i], sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, p[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return proof_error("consistency proof is shorter than the tree is deep");
  if (fr != old_root) return proof_error("consistency proof does not reproduce the old root");
  if (sr != new_root) return proof_error("consistency proof does not reproduce the new root");
  return ok_status();
}

void CompactTree::append(const Hash& leaf) {
  // Merge equal-sized perfect subtrees like carries in a binary counter.
  Hash h = leaf;
  uint64_t s = size_;
  while (s & 1) {
    h = node_hash(frontier_.back(), h);
    frontier_.pop_back();
    s >>= 1;
  }
  frontier_.push_back(h);
  ++size_;
}

Hash CompactTree::root() const {
  if (frontier_.empty()) return sha256({});
  Hash r = frontier_.back();
  for (size_t i = frontier_.size() - 1; i-- > 0;) r = node_hash(frontier_[i], r);
  return r;
}

}  // namespace verbatim::archive
