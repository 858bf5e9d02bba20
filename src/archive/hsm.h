// The archive's keys in a hardware security module, through PKCS#11.
//
// With an HSM configured, the archive's master key (an AES-256 key that wraps every object's
// data key, AES-GCM with the object id as associated data) and its ledger signing key (Ed25519,
// CKM_EDDSA) are created in the token as sensitive, non-extractable objects: they never exist
// in a file or in this process, so neither a disk thief nor a root user copying files can
// decrypt a recording or re-sign a rewritten ledger. Only the signing key's public half is
// written out (signing.key.pub, for auditors and verify-export). Tested with SoftHSM2; any
// PKCS#11 v2.40 module with AES-GCM and EdDSA works (p11-kit-proxy.so included).
//
// Hand-written on the PKCS#11 C interface (the header is p11-kit's): Debian 12 packages no C++
// PKCS#11 wrapper, and the module API is small. Modules are loaded with dlopen and initialised
// once per process (never finalised: other Hsm objects may share them).
//
// Threads and ownership: one Hsm owns one logged-in session; every call takes its mutex, so
// any thread may use it. Shared by the archive's MasterKey and SigningKey (shared_ptr).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace verbatim::archive {

struct HsmOptions {
  std::string module;  // the PKCS#11 module (.so); empty: no HSM, keys in files
  std::string token;   // the token's label
  std::string pin;     // the user PIN
  std::string master_key_label = "verbatim-master";
  std::string signing_key_label = "verbatim-signing";
  bool enabled() const { return !module.empty(); }
};

class Hsm {
 public:
  // Loads the module, finds the token by label, opens a session and logs in. Errors name the
  // module, the token and the PKCS#11 return value (CKR_PIN_INCORRECT, CKR_TOKEN_NOT_PRESENT...).
  static Result<std::shared_ptr<Hsm>> open(const HsmOptions& options);
  ~Hsm();
  Hsm(const Hsm&) = delete;
  Hsm& operator=(const Hsm&) = delete;

  const HsmOptions& options() const { return options_; }
  std::string describe() const;  // "token 'x' in /usr/lib/.../libsofthsm2.so"

  // AES-256 secret keys by label. The id is the key's CKA_ID in hex (16 digits, random at
  // creation): the archive's master key id.
  Result<std::optional<std::string>> find_secret_key(const std::string& label);
  Result<std::string> create_secret_key(const std::string& label);
  // AES-GCM under the labelled key: 12-byte IV || ciphertext || 16-byte tag.
  Result<std::vector<uint8_t>> encrypt(const std::string& label, std::span<const uint8_t> plain,
                                       std::span<const uint8_t> aad);
  Result<std::vector<uint8_t>> decrypt(const std::string& label, std::span<const uint8_t> sealed,
                                       std::span<const uint8_t> aad);
  // Destroys the labelled secret key in the token (crypto-shredding of what it wraps).
  Status destroy_secret_key(const std::string& label);

  // Ed25519 key pairs by label: the public key, raw 32 bytes.
  Result<std::optional<std::array<uint8_t, 32>>> find_signing_key(const std::string& label);
  Result<std::array<uint8_t, 32>> create_signing_key(const std::string& label);
  Result<std::array<uint8_t, 64>> sign(const std::string& label, std::span<const uint8_t> message);

 private:
  struct Module;
  Hsm(HsmOptions options, Module* module, unsigned long session)
      : options_(std::move(options)), module_(module), session_(session) {}
  Result<std::optional<unsigned long>> find(unsigned long klass, const std::string& label);
  Result<unsigned long> handle(unsigned long klass, const std::string& label);

  HsmOptions options_;
  Module* module_;  // process-wide, never unloaded
  unsigned long session_;
  std::mutex mutex_;
};

}  // namespace verbatim::archive
