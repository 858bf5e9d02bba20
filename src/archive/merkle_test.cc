#include "archive/merkle.h"

#include <random>

#include <gtest/gtest.h>

namespace verbatim::archive {
namespace {

std::vector<uint8_t> hex_bytes(std::string_view s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// The RFC 6962 / Certificate Transparency reference vectors (leaf inputs and the roots of
// the first 1..8 of them).
const char* kInputs[] = {"",
                         "00",
                         "10",
                         "2021",
                         "3031",
                         "40414243",
                         "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f"};
const char* kRoots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

std::vector<Hash> vector_leaves() {
  std::vector<Hash> leaves;
  for (const char* in : kInputs) leaves.push_back(leaf_hash(hex_bytes(in)));
  return leaves;
}

std::vector<Hash> random_leaves(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Hash> out(n);
  for (auto& h : out) {
    uint8_t data[8];
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    h = leaf_hash(data);
  }
  return out;
}

TEST(Merkle, ReferenceRoots) {
  EXPECT_EQ(to_hex(root_from_leaves({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto leaves = vector_leaves();
  for (size_t n = 1; n <= 8; ++n) {
    EXPECT_EQ(to_hex(root_from_leaves(std::span(leaves).first(n))), kRoots[n - 1]) << n;
  }
}

TEST(Merkle, CompactTreeAgreesWithTheReference) {
  const auto leaves = random_leaves(300, 1);
  CompactTree t;
  EXPECT_EQ(t.root(), root_from_leaves({}));
  for (size_t n = 0; n < leaves.size(); ++n) {
    t.append(leaves[n]);
    ASSERT_EQ(t.root(), root_from_leaves(std::span(leaves).first(n + 1))) << n + 1;
  }
}

TEST(Merkle, EveryInclusionProofVerifiesAndTamperingIsCaught) {
  const auto leaves = random_leaves(70, 2);
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    const auto tree = std::span(leaves).first(n);
    const Hash root = root_from_leaves(tree);
    for (uint64_t i = 0; i < n; ++i) {
      auto proof = inclusion_proof(tree, i);
      ASSERT_TRUE(verify_inclusion(i, n, leaves[i], proof, root)) << i << "/" << n;
      EXPECT_FALSE(verify_inclusion(i, n, leaves[(i + 1) % 70], proof, root));
      if (n > 1) {
        EXPECT_FALSE(verify_inclusion((i + 1) % n, n, leaves[i], proof, root));
        auto bad = proof;
        bad[bad.size() / 2][7] ^= 1;
        EXPECT_FALSE(verify_inclusion(i, n, leaves[i], bad, root));
        bad = proof;
        bad.pop_back();
        EXPECT_FALSE(verify_inclusion(i, n, leaves[i], bad, root));
        bad = proof;
        bad.push_back(root);
        EXPECT_FALSE(verify_inclusion(i, n, leaves[i], bad, root));
      }
    }
    EXPECT_FALSE(verify_inclusion(n, n, leaves[0], {}, root));
  }
}

TEST(Merkle, EveryConsistencyProofVerifiesAndForksAreCaught) {
  const auto leaves = random_leaves(70, 3);
  const auto other = random_leaves(70, 4);
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    const Hash new_root = root_from_leaves(std::span(leaves).first(n));
    for (uint64_t m = 0; m <= n; ++m) {
      const Hash old_root = root_from_leaves(std::span(leaves).first(m));
      const auto proof = consistency_proof(std::span(leaves).first(n), m);
      ASSERT_TRUE(verify_consistency(m, n, old_root, new_root, proof)) << m << "->" << n;
      if (m == 0 || m == n) continue;
      // A forked history (different old leaves) must not verify.
      const Hash forked = root_from_leaves(std::span(other).first(m));
      EXPECT_FALSE(verify_consistency(m, n, forked, new_root, proof));
      auto bad = proof;
      bad.back()[0] ^= 0x80;
      EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad));
    }
  }
  const Hash r = root_from_leaves(leaves);
  EXPECT_FALSE(verify_consistency(10, 5, r, r, {}));                       // rolled back
  EXPECT_FALSE(verify_consistency(5, 5, r, root_from_leaves(other), {}));  // fork
}

TEST(Merkle, HexRoundTrip) {
  const Hash h = leaf_hash({});
  EXPECT_EQ(hash_from_hex(to_hex(h)).value(), h);
  EXPECT_FALSE(hash_from_hex("zz"));
  EXPECT_FALSE(hash_from_hex(std::string(64, 'g')));
}

}  // namespace
}  // namespace verbatim::archive
