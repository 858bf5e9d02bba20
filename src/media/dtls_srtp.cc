#include "media/dtls_srtp.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace verbatim::media {

namespace {

constexpr const char* kProfile = "SRTP_AES128_CM_SHA1_80";
constexpr size_t kKeyLength = 16;
constexpr size_t kSaltLength = 14;

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

const EVP_MD* digest_named(const std::string& name) {
  if (name == "sha-1") return EVP_sha1();
  if (name == "sha-256") return EVP_sha256();
  if (name == "sha-384") return EVP_sha384();
  if (name == "sha-512") return EVP_sha512();
  return nullptr;
}

std::vector<uint8_t> digest_of(X509* cert, const EVP_MD* md) {
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  if (X509_digest(cert, md, out.data(), &n) != 1) return {};
  out.resize(n);
  return out;
}

std::string hex_colons(const std::vector<uint8_t>& bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i) out += ':';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

// "sha-256 AB:CD:..." (RFC 8122 §5) as the algorithm and the digest's bytes.
Result<std::pair<std::string, std::vector<uint8_t>>> parse_fingerprint(const std::string& text) {
  const auto space = text.find(' ');
  if (space == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "a=fingerprint: expected '<hash> <hex>'");
  }
  std::string algorithm = text.substr(0, space);
  std::transform(algorithm.begin(), algorithm.end(), algorithm.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const EVP_MD* md = digest_named(algorithm);
  if (!md) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a=fingerprint: unknown hash function '" + algorithm + "'");
  }
  std::vector<uint8_t> bytes;
  const std::string hex = text.substr(space + 1);
  for (size_t i = 0; i < hex.size();) {
    if (i + 2 > hex.size() || !std::isxdigit(static_cast<unsigned char>(hex[i])) ||
        !std::isxdigit(static_cast<unsigned char>(hex[i + 1]))) {
      return make_error(ErrorCode::kInvalidArgument, "a=fingerprint: not hex pairs");
    }
    bytes.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    i += 2;
    if (i < hex.size() && hex[i++] != ':') {
      return make_error(ErrorCode::kInvalidArgument, "a=fingerprint: pairs not separated by ':'");
    }
  }
  if (bytes.size() != static_cast<size_t>(EVP_MD_get_size(md))) {
    return make_error(ErrorCode::kInvalidArgument, "a=fingerprint: wrong length for " + algorithm);
  }
  return std::make_pair(std::move(algorithm), std::move(bytes));
}

// Where an SSL keeps its DtlsSrtp (for the certificate check during the handshake).
int object_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

// During the handshake: the peer's certificate must be the one its SDP named (RFC 8122 §5). A
// mismatch fails the handshake with a bad_certificate alert, so both sides learn it at once.
int DtlsSrtp::verify(int, X509_STORE_CTX* store) {
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;  // a self-signed leaf: no chain
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self = ssl ? static_cast<DtlsSrtp*>(SSL_get_ex_data(ssl, object_index())) : nullptr;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (!self || !cert) return 0;
  if (digest_of(cert, digest_named(self->expected_algorithm_)) != self->expected_digest_) {
    self->mismatch_ = true;
    return 0;
  }
  return 1;
}

Result<std::shared_ptr<const DtlsIdentity>> DtlsIdentity::generate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  auto cleanup = [&] {
    X509_free(cert);
    EVP_PKEY_free(key);
  };
  if (!key || !cert) {
    cleanup();
    return make_error(ErrorCode::kInternal, "DTLS certificate: " + openssl_error());
  }
  uint8_t serial[8];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_set_version(cert, 2);
  X509_gmtime_adj(X509_getm_notBefore(cert), -86400);
  X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("verbatim"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  if (X509_sign(cert, key, EVP_sha256()) == 0) {
    cleanup();
    return make_error(ErrorCode::kInternal, "DTLS certificate: " + openssl_error());
  }
  std::shared_ptr<DtlsIdentity> id(new DtlsIdentity());
  id->ctx_ = SSL_CTX_new(DTLS_method());
  SSL_CTX* ctx = id->ctx_;
  const bool ok =
      ctx && SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) == 1 &&
      SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
      SSL_CTX_set_cipher_list(ctx,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305") == 1 &&
      SSL_CTX_set_tlsext_use_srtp(ctx, kProfile) == 0;  // (0 is success here)
  if (!ok) {
    cleanup();
    return make_error(ErrorCode::kInternal, "DTLS context: " + openssl_error());
  }
  // Both sides present self-signed certificates: each is checked against a=fingerprint
  // (DtlsSrtp::verify), not against a CA.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &DtlsSrtp::verify);
  SSL_CTX_set_read_ahead(ctx, 1);
  id->fingerprint_ = "sha-256 " + hex_colons(digest_of(cert, EVP_sha256()));
  cleanup();
  return std::shared_ptr<const DtlsIdentity>(std::move(id));
}

DtlsIdentity::~DtlsIdentity() { SSL_CTX_free(ctx_); }

Result<std::unique_ptr<DtlsSrtp>> DtlsSrtp::create(std::shared_ptr<const DtlsIdentity> identity,
                                                   Role role,
                                                   const std::string& remote_fingerprint) {
  auto fp = parse_fingerprint(remote_fingerprint);
  if (!fp) return fp.error();
  std::unique_ptr<DtlsSrtp> d(new DtlsSrtp());
  d->identity_ = std::move(identity);
  d->role_ = role;
  d->expected_algorithm_ = fp.value().first;
  d->expected_digest_ = fp.value().second;
  d->ssl_ = SSL_new(d->identity_->context());
  if (!d->ssl_) return make_error(ErrorCode::kInternal, "DTLS: " + openssl_error());
  SSL_set_bio(d->ssl_, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  SSL_set_ex_data(d->ssl_, object_index(), d.get());
  // Records small enough for any path (WebRTC's usual 1200-byte budget).
  SSL_set_options(d->ssl_, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(d->ssl_, 1200);
  if (role == Role::kClient) {
    SSL_set_connect_state(d->ssl_);
  } else {
    SSL_set_accept_state(d->ssl_);
  }
  return d;
}

DtlsSrtp::~DtlsSrtp() { SSL_free(ssl_); }

Datagrams DtlsSrtp::start() {
  if (role_ == Role::kClient) advance();
  return drain();
}

Datagrams DtlsSrtp::receive(std::span<const uint8_t> datagram) {
  if (!failure_.empty()) return {};
  BIO_write(SSL_get_rbio(ssl_), datagram.data(), static_cast<int>(datagram.size()));
  if (done_) {
    // After the handshake only alerts (close_notify) and retransmitted flights arrive: read
    // them so OpenSSL answers a retransmitted Finished.
    uint8_t sink[1500];
    while (SSL_read(ssl_, sink, sizeof(sink)) > 0) {
    }
    ERR_clear_error();
  } else {
    advance();
  }
  return drain();
}

Datagrams DtlsSrtp::on_timer() {
  if (done_ || !failure_.empty()) return {};
  if (DTLSv1_handle_timeout(ssl_) < 0) fail("DTLS: the handshake timed out");
  return drain();
}

Datagrams DtlsSrtp::drain() {
  Datagrams out;
  BIO* w = SSL_get_wbio(ssl_);
  while (const size_t pending = BIO_ctrl_pending(w)) {
    std::vector<uint8_t> d(pending);
    const int n = BIO_read(w, d.data(), static_cast<int>(d.size()));
    if (n <= 0) break;
    d.resize(static_cast<size_t>(n));
    out.push_back(std::move(d));
  }
  return out;
}

void DtlsSrtp::fail(std::string why) {
  failure_ = std::move(why);
  local_key_ = remote_key_ = {};
}

void DtlsSrtp::advance() {
  const int r = SSL_do_handshake(ssl_);
  if (r != 1) {
    const int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      fail(mismatch_ ? "DTLS: the peer's certificate does not match its a=fingerprint"
                     : "DTLS handshake failed: " + openssl_error());
    }
    return;
  }
  // Checked during the handshake (verify); again here, in case no certificate was asked for.
  X509* peer = SSL_get1_peer_certificate(ssl_);
  const std::vector<uint8_t> got =
      peer ? digest_of(peer, digest_named(expected_algorithm_)) : std::vector<uint8_t>();
  X509_free(peer);
  if (got.empty() || got != expected_digest_) {
    fail("DTLS: the peer's certificate does not match its a=fingerprint");
    return;
  }
  const SRTP_PROTECTION_PROFILE* profile = SSL_get_selected_srtp_profile(ssl_);
  if (!profile || std::string(profile->name) != kProfile) {
    fail("DTLS: no SRTP protection profile in common (we offer SRTP_AES128_CM_SHA1_80)");
    return;
  }
  // RFC 5764 §4.2: client key, server key, client salt, server salt.
  uint8_t km[2 * (kKeyLength + kSaltLength)];
  static constexpr char kLabel[] = "EXTRACTOR-dtls_srtp";
  if (SSL_export_keying_material(ssl_, km, sizeof(km), kLabel, sizeof(kLabel) - 1, nullptr, 0, 0) !=
      1) {
    fail("DTLS: exporting the SRTP keys failed: " + openssl_error());
    return;
  }
  auto key_of = [&](bool client) {
    SdesKey k{"AES_CM_128_HMAC_SHA1_80", {}};
    const uint8_t* key = km + (client ? 0 : kKeyLength);
    const uint8_t* salt = km + 2 * kKeyLength + (client ? 0 : kSaltLength);
    k.key_salt.assign(key, key + kKeyLength);
    k.key_salt.insert(k.key_salt.end(), salt, salt + kSaltLength);
    return k;
  };
  local_key_ = key_of(role_ == Role::kClient);
  remote_key_ = key_of(role_ != Role::kClient);
  OPENSSL_cleanse(km, sizeof(km));
  done_ = true;
}

}  // namespace verbatim::media
