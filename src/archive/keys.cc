#include "archive/keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/strings.h"

namespace verbatim::archive {

namespace {

constexpr char kWrapContext[] = "verbatim data key v1";
constexpr uint8_t kWrapVersion = 1;     // XChaCha20-Poly1305 under a key file's master key
constexpr uint8_t kHsmWrapVersion = 2;  // AES-256-GCM by the HSM

bool ready() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

Result<std::string> read_key_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(ErrorCode::kNotFound,
                      "cannot read key file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, "key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return make_error(ErrorCode::kFailedPrecondition, "key file " + path +
                                                          " may be read by group or others (mode " +
                                                          mode + "); run: chmod 600 " + path);
  }
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

Status write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return make_error(ErrorCode::kIo, "cannot create " + path + ": " + std::strerror(errno));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return make_error(ErrorCode::kIo, "cannot write " + path + ": " + std::strerror(err));
  return ok_status();
}

std::string key_id(const std::array<uint8_t, 32>& key) {
  std::array<uint8_t, 8> id{};
  crypto_generichash(id.data(), id.size(), key.data(), key.size(),
                     reinterpret_cast<const uint8_t*>("verbatim key id"), 15);
  return hex(id);
}

}  // namespace

Result<std::string> read_secret_file(const std::string& path) { return read_key_file(path); }

std::string hex(std::span<const uint8_t> bytes) { return verbatim::to_hex(bytes); }

Result<std::vector<uint8_t>> unhex(std::string_view text) {
  auto bytes = from_hex(text);
  if (!bytes) return make_error(ErrorCode::kInvalidArgument, "not hexadecimal");
  return std::move(bytes).value();
}

Result<MasterKey> create_master_key(const std::string& path) {
  ready();
  MasterKey m;
  crypto_aead_xchacha20poly1305_ietf_keygen(m.key.data());
  VB_TRY(write_new_file(path, hex(m.key) + "\n", 0600));
  m.id = key_id(m.key);
  return m;
}

Result<MasterKey> load_master_key(const std::string& path) {
  ready();
  auto text = read_key_file(path);
  if (!text) return text.error();
  auto bytes = unhex(text.value());
  if (!bytes || bytes.value().size() != 32) {
    return make_error(ErrorCode::kInvalidArgument,
                      "key file " + path + " must hold 64 hexadecimal digits");
  }
  MasterKey m;
  std::copy(bytes.value().begin(), bytes.value().end(), m.key.begin());
  m.id = key_id(m.key);
  return m;
}

std::string MasterKey::describe() const {
  return hsm ? "the HSM key '" + hsm_label + "' (" + hsm->describe() + ")" : "master key " + id;
}

Result<MasterKey> hsm_master_key(const std::shared_ptr<Hsm>& hsm, bool create) {
  MasterKey m;
  m.hsm = hsm;
  m.hsm_label = hsm->options().master_key_label;
  auto id = hsm->find_secret_key(m.hsm_label);
  if (!id) return id.error();
  if (id.value()) {
    m.id = *id.value();
    return m;
  }
  if (!create) {
    return make_error(ErrorCode::kNotFound,
                      "HSM: no master key labelled '" + m.hsm_label + "' in " + hsm->describe());
  }
  auto made = hsm->create_secret_key(m.hsm_label);
  if (!made) return made.error();
  m.id = made.value();
  return m;
}

Result<std::vector<uint8_t>> wrap_data_key(const MasterKey& master, const DataKey& key,
                                           const ObjectId& object) {
  ready();
  std::vector<uint8_t> ad(kWrapContext, kWrapContext + sizeof kWrapContext - 1);
  ad.insert(ad.end(), object.begin(), object.end());
  if (master.hsm) {
    // version (2) | AES-GCM by the HSM: IV (12) | ciphertext of the key (32) | tag (16)
    auto sealed = master.hsm->encrypt(master.hsm_label, key, ad);
    if (!sealed) return sealed.error();
    std::vector<uint8_t> out{kHsmWrapVersion};
    out.insert(out.end(), sealed.value().begin(), sealed.value().end());
    return out;
  }
  // version (1) | nonce (24) | ciphertext of the key (32) + tag (16)
  std::vector<uint8_t> out(1 + 24 + 32 + 16);
  out[0] = kWrapVersion;
  randombytes_buf(out.data() + 1, 24);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + 25, &clen, key.data(), key.size(),
                                             ad.data(), ad.size(), nullptr, out.data() + 1,
                                             master.key.data());
  return out;
}

Result<DataKey> unwrap_data_key(const MasterKey& master, const std::vector<uint8_t>& wrapped,
                                const ObjectId& object) {
  ready();
  std::vector<uint8_t> ad(kWrapContext, kWrapContext + sizeof kWrapContext - 1);
  ad.insert(ad.end(), object.begin(), object.end());
  DataKey key;
  if (master.hsm) {
    if (wrapped.size() != 61 || wrapped[0] != kHsmWrapVersion) {
      return make_error(ErrorCode::kInvalidArgument, "malformed wrapped key");
    }
    auto plain = master.hsm->decrypt(master.hsm_label, std::span(wrapped).subspan(1), ad);
    if (!plain) {
      return make_error(plain.error().code, "the data key of object " + object_id_hex(object) +
                                                " does not unwrap under " + master.describe() +
                                                ": " + plain.error().message);
    }
    if (plain.value().size() != key.size()) {
      return make_error(ErrorCode::kInvalidArgument, "malformed wrapped key");
    }
    std::copy(plain.value().begin(), plain.value().end(), key.begin());
    sodium_memzero(plain.value().data(), plain.value().size());
    return key;
  }
  if (wrapped.size() != 73 || wrapped[0] != kWrapVersion) {
    return make_error(ErrorCode::kInvalidArgument, "malformed wrapped key");
  }
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(key.data(), &len, nullptr, wrapped.data() + 25, 48,
                                                 ad.data(), ad.size(), wrapped.data() + 1,
                                                 master.key.data()) != 0) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the data key of object " + object_id_hex(object) +
                          " does not unwrap under master key " + master.id);
  }
  return key;
}

Result<SigningKey> create_signing_key(const std::string& path) {
  ready();
  SigningKey k;
  crypto_sign_keypair(k.public_key.data(), k.secret_key.data());
  VB_TRY(write_new_file(path, hex(k.secret_key) + "\n", 0600));
  (void)::unlink((path + ".pub").c_str());
  VB_TRY(write_new_file(path + ".pub", hex(k.public_key) + "\n", 0644));
  return k;
}

Result<SigningKey> load_signing_key(const std::string& path) {
  ready();
  SigningKey k;
  auto text = read_key_file(path);
  if (!text) return text.error();
  auto bytes = unhex(text.value());
  if (!bytes || bytes.value().size() != 64) {
    return make_error(ErrorCode::kInvalidArgument,
                      "signing key file " + path + " must hold 128 hexadecimal digits");
  }
  std::copy(bytes.value().begin(), bytes.value().end(), k.secret_key.begin());
  crypto_sign_ed25519_sk_to_pk(k.public_key.data(), k.secret_key.data());
  return k;
}

Result<SigningKey> load_or_create_signing_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return create_signing_key(path);
  return load_signing_key(path);
}

Result<std::array<uint8_t, 32>> load_public_key(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  in >> text;
  auto bytes = unhex(text);
  if (!bytes || bytes.value().size() != 32) {
    return make_error(ErrorCode::kInvalidArgument,
                      "public key file " + path + " must hold 64 hexadecimal digits");
  }
  std::array<uint8_t, 32> pk{};
  std::copy(bytes.value().begin(), bytes.value().end(), pk.begin());
  return pk;
}

Result<std::optional<SigningKey>> find_hsm_signing_key(const std::shared_ptr<Hsm>& hsm) {
  const std::string& label = hsm->options().signing_key_label;
  auto pk = hsm->find_signing_key(label);
  if (!pk) return pk.error();
  if (!pk.value()) return std::optional<SigningKey>();
  SigningKey k;
  k.public_key = *pk.value();
  k.hsm = hsm;
  k.hsm_label = label;
  return std::optional<SigningKey>(std::move(k));
}

Result<SigningKey> create_hsm_signing_key(const std::shared_ptr<Hsm>& hsm,
                                          const std::string& public_path) {
  ready();
  SigningKey k;
  k.hsm = hsm;
  k.hsm_label = hsm->options().signing_key_label;
  auto pk = hsm->create_signing_key(k.hsm_label);
  if (!pk) return pk.error();
  k.public_key = pk.value();
  // The token's signature must verify as plain Ed25519 (auditors check with libsodium).
  auto probe = sign(k, "verbatim signing key check");
  if (!probe) return probe.error();
  if (!verify_signature(k.public_key, "verbatim signing key check", probe.value())) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "HSM: the token's EdDSA signature does not verify as Ed25519");
  }
  (void)::unlink(public_path.c_str());
  VB_TRY(write_new_file(public_path, hex(k.public_key) + "\n", 0644));
  return k;
}

Result<std::array<uint8_t, 64>> sign(const SigningKey& key, const std::string& message) {
  if (key.hsm) {
    return key.hsm->sign(
        key.hsm_label, std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
  }
  std::array<uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const uint8_t*>(message.data()),
                       message.size(), key.secret_key.data());
  return sig;
}

bool verify_signature(const std::array<uint8_t, 32>& public_key, const std::string& message,
                      const std::array<uint8_t, 64>& signature) {
  ready();
  return crypto_sign_verify_detached(signature.data(),
                                     reinterpret_cast<const uint8_t*>(message.data()),
                                     message.size(), public_key.data()) == 0;
}

}  // namespace verbatim::archive
