// Key management for the archive.
//
// Every object has its own random data key (object_format.h). Data keys are stored only
// wrapped (XChaCha20-Poly1305, the object id as associated data, so a wrapped key cannot be
// moved to another object) under a master key read from a key file that must be owner-only.
// Rotation re-wraps data keys under a new master key without touching any object; disposal
// destroys the wrapped data key (crypto-shredding), after which the object is unreadable by
// anyone. Signing keys (Ed25519) for ledger tree heads live in owner-only files too; the
// public half is what auditors get.
// With an HSM (hsm.h) both keys live in the token instead: the structs then carry the Hsm and
// the key's label, and wrapping, unwrapping and signing are done by the token.
// Functions are pure apart from the key files (or HSM keys) they read or create; they never
// throw.
// Threads and ownership: key values and functions on them; the key material is owned by the
// struct (wiped on destruction where it says so); any thread, one object per thread.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/hsm.h"
#include "archive/object_format.h"
#include "common/result.h"

namespace verbatim::archive {

struct MasterKey {
  std::string id;  // 16 hex digits identifying the key (not secret)
  std::array<uint8_t, 32> key{};
  std::shared_ptr<Hsm> hsm;  // set: the key is the HSM's key labelled hsm_label, `key` unused
  std::string hsm_label;
  std::string describe() const;  // the key file's path is the caller's; this names an HSM key
};

// Creates a new random master key file (mode 0600, never overwriting).
Result<MasterKey> create_master_key(const std::string& path);
// Loads a master key file: 64 hex digits. Refused when group or others may read it.
Result<MasterKey> load_master_key(const std::string& path);

// The master key in the HSM (its label from the options): found, else created when `create`.
Result<MasterKey> hsm_master_key(const std::shared_ptr<Hsm>& hsm, bool create);

// Fails only with an HSM (out of reach, refusing).
Result<std::vector<uint8_t>> wrap_data_key(const MasterKey& master, const DataKey& key,
                                           const ObjectId& object);
Result<DataKey> unwrap_data_key(const MasterKey& master, const std::vector<uint8_t>& wrapped,
                                const ObjectId& object);

struct SigningKey {
  std::array<uint8_t, 32> public_key{};
  std::array<uint8_t, 64> secret_key{};
  std::shared_ptr<Hsm> hsm;  // set: the secret key is the HSM's key labelled hsm_label
  std::string hsm_label;
};
// Ed25519 key files: created (0600, never overwriting) with the public key also written to
// `<path>.pub` as hex for auditors; loaded (refused when group or others may read it). The
// archive never creates one in place of a lost key silently (Archive::open).
Result<SigningKey> create_signing_key(const std::string& path);
Result<SigningKey> load_signing_key(const std::string& path);
// For a new ledger (tests, benchmarks): loaded if present, else created.
Result<SigningKey> load_or_create_signing_key(const std::string& path);
Result<std::array<uint8_t, 32>> load_public_key(const std::string& path);
// The signing key in the HSM: found (nullopt when absent), or created with its public key
// written to `public_path` (for auditors, as with key files).
Result<std::optional<SigningKey>> find_hsm_signing_key(const std::shared_ptr<Hsm>& hsm);
Result<SigningKey> create_hsm_signing_key(const std::shared_ptr<Hsm>& hsm,
                                          const std::string& public_path);

// Fails only with an HSM (out of reach, refusing).
Result<std::array<uint8_t, 64>> sign(const SigningKey& key, const std::string& message);
bool verify_signature(const std::array<uint8_t, 32>& public_key, const std::string& message,
                      const std::array<uint8_t, 64>& signature);

// A secret's file (a key, a PIN): refused unless a regular file only its owner may read; the
// text without trailing whitespace.
Result<std::string> read_secret_file(const std::string& path);

std::string hex(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> unhex(std::string_view text);

}  // namespace verbatim::archive
