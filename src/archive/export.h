// Export packages: selected recordings with their decrypted media, stored objects, metadata,
// data keys, ledger entries with inclusion proofs, and the signed tree head that covers them,
// so a regulator can check everything offline with nothing but the archive's public key.
//
// Package (a directory):
//   manifest.json                     format, tree head, public key, per recording and object:
//                                     ledger entry bytes, index and inclusion proof; file names;
//                                     object data keys (hex)
//   recordings/<rec>/metadata.json    the catalog metadata exactly as stored
//   recordings/<rec>/<obj>.vbo        the object as stored (ciphertext)
//   recordings/<rec>/<obj>.bin        its decrypted content
//
// verify_package() proves, per recording: head signature (with the verifier's own copy of the
// public key) -> inclusion proof -> ledger entry -> SHA-256 of the stored object -> AEAD
// authentication of every chunk under the exported data key -> the decrypted file. Verdicts
// are valid, tampered or unverifiable; unverifiable is never reported as valid.
// Threads and ownership: export and package verification run on the caller's thread over an
// Archive it holds open; the package file is the caller's.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "archive/archive.h"

namespace verbatim::archive {

struct ExportSummary {
  std::string dir;
  size_t recordings = 0;
  size_t objects = 0;
  TreeHead head;
};

// Called after each recording is in the package: (recordings done, recordings in all).
using ExportProgress = std::function<void(size_t done, size_t total)>;

Result<ExportSummary> export_package(Archive& archive, const std::vector<std::string>& recordings,
                                     const std::string& out_dir, const std::string& who,
                                     const ExportProgress& progress = {});

struct PackageVerdict {
  std::string recording;
  std::string verdict;  // valid | tampered | unverifiable
  std::vector<std::string> problems;
};

Result<std::vector<PackageVerdict>> verify_package(const std::string& dir,
                                                   const std::array<uint8_t, 32>& public_key);

}  // namespace verbatim::archive
