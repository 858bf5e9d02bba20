// Sha256: incremental SHA-256 on OpenSSL's EVP, which uses the CPU's SHA extensions (about
// 1.8 GB/s here against 0.23 GB/s for libsodium's portable code: bench/RESULTS.md). Used for
// object hashes and the ledger's Merkle tree. Not thread-safe; one per stream.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace verbatim::archive {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const uint8_t> data);
  std::array<uint8_t, 32> final();

  static std::array<uint8_t, 32> of(std::span<const uint8_t> data);

 private:
  void* ctx_;  // EVP_MD_CTX
};

}  // namespace verbatim::archive
