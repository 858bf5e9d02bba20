#include "sip/tls.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <boost/asio/ip/address.hpp>

namespace verbatim::sip {

namespace ssl = boost::asio::ssl;

namespace {
// TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3's own suites are all of that kind.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
}  // namespace

Result<std::shared_ptr<ssl::context>> make_tls_context(const TlsSettings& s) {
  auto bad = [](const std::string& what) { return make_error(ErrorCode::kInvalidArgument, what); };
  if (s.certificate.empty() || s.private_key.empty()) {
    return bad("TLS needs tls.certificate and tls.private_key");
  }
  struct stat st {};
  if (::stat(s.private_key.c_str(), &st) == 0 && (st.st_mode & 077)) {
    return bad("tls.private_key " + s.private_key + " may be read by others: chmod 600 it");
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use | ssl::context::no_compression,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native, kCiphers) != 1) return bad("no usable TLS cipher suite");
  ctx->use_certificate_chain_file(s.certificate, ec);
  if (ec) return bad("tls.certificate " + s.certificate + ": " + ec.message());
  ctx->use_private_key_file(s.private_key, ssl::context::pem, ec);
  if (ec) return bad("tls.private_key " + s.private_key + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return bad("tls.private_key " + s.private_key + " does not match tls.certificate");
  }
  if (!s.ca_file.empty()) {
    ctx->load_verify_file(s.ca_file, ec);
    if (ec) return bad("tls.ca_file " + s.ca_file + ": " + ec.message());
  } else {
    ctx->set_default_verify_paths(ec);
  }
  // The server side: whether to ask for (and insist on) a client certificate. The client side
  // sets verify_peer on each connection (expect_server_name).
  ssl::verify_mode mode = ssl::verify_none;
  if (s.client_auth == ClientAuth::kOptional) mode = ssl::verify_peer;
  if (s.client_auth == ClientAuth::kRequire) {
    mode = ssl::verify_peer | ssl::verify_fail_if_no_peer_cert;
  }
  ctx->set_verify_mode(mode, ec);
  // A server that verifies clients must name the context its sessions belong to, or OpenSSL
  // refuses every resumption with an internal-error alert: a client (stunnel, a phone, an SBC)
  // that reconnects with its last session would be cut off. Sessions (and TLS 1.3 tickets) are
  // this context's alone; a resumed session keeps its client certificate and verify result.
  const std::string sid = "verbatim/" + std::to_string(static_cast<int>(s.client_auth));
  SSL_CTX_set_session_id_context(native, reinterpret_cast<const unsigned char*>(sid.data()),
                                 static_cast<unsigned>(sid.size()));
  return ctx;
}

std::string certificate_name(SSL* ssl) {
  if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK) return "";
  X509* cert = SSL_get_peer_certificate(ssl);
  if (!cert) return "";
  std::string name;
  if (auto* names = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && name.empty(); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
      if (g->type == GEN_DNS) {
        const auto* s = g->d.dNSName;
        name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                    static_cast<size_t>(ASN1_STRING_length(s)));
      }
    }
    GENERAL_NAMES_free(names);
  }
  if (name.empty()) {
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
      name = cn;
    }
  }
  X509_free(cert);
  return name;
}

void expect_server_name(SSL* ssl, const std::string& name) {
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(name, ec);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    return;
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  SSL_set_tlsext_host_name(ssl, name.c_str());
}

namespace {

std::string pem_of_key(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string pem_of_cert(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  if (!ext) return false;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return true;
}

X509* new_cert(EVP_PKEY* key, const std::string& cn, int days) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

Status write_file(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return make_error(
        ErrorCode::kFailedPrecondition,
        "cannot create " + path + (errno == EEXIST ? ": it exists (never overwritten)" : ""));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return make_error(ErrorCode::kIo, "cannot write " + path);
  return ok_status();
}

}  // namespace

Result<IssuedFiles> issue_certificates(const std::string& dir,
                                       const std::vector<std::string>& names,
                                       const std::vector<std::string>& addresses, int days) {
  if (names.empty() && addresses.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "name at least one host name or address");
  }
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "" : ",") + std::string("DNS:") + n;
  for (const auto& a : addresses) {
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(a, ec);
    if (ec) return make_error(ErrorCode::kInvalidArgument, "\"" + a + "\" is not an IP address");
    san += (san.empty() ? "" : ",") + std::string("IP:") + a;
  }
  IssuedFiles f{dir + "/ca.crt", dir + "/ca.key", dir + "/server.crt", dir + "/server.key"};
  for (const auto* p : {&f.ca_certificate, &f.ca_key, &f.certificate, &f.private_key}) {
    if (::access(p->c_str(), F_OK) == 0) {
      return make_error(ErrorCode::kFailedPrecondition,
                        *p + " exists: tls init never overwrites keys or certificates");
    }
  }
  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* ca = new_cert(ca_key, "Verbatim private CA", days + 365);
  X509_set_issuer_name(ca, X509_get_subject_name(ca));
  bool ok = add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
            add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") &&
            add_ext(ca, ca, NID_subject_key_identifier, "hash") &&
            X509_sign(ca, ca_key, EVP_sha256()) > 0;
  X509* cert = new_cert(key, names.empty() ? addresses.front() : names.front(), days);
  X509_set_issuer_name(cert, X509_get_subject_name(ca));
  ok = ok && add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") &&
       add_ext(cert, ca, NID_key_usage, "critical,digitalSignature") &&
       add_ext(cert, ca, NID_ext_key_usage, "serverAuth,clientAuth") &&
       add_ext(cert, ca, NID_subject_alt_name, san) &&
       add_ext(cert, ca, NID_authority_key_identifier, "keyid") &&
       X509_sign(cert, ca_key, EVP_sha256()) > 0;
  const std::string ca_pem = pem_of_cert(ca), ca_key_pem = pem_of_key(ca_key),
                    cert_pem = pem_of_cert(cert), key_pem = pem_of_key(key);
  X509_free(ca);
  X509_free(cert);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(key);
  if (!ok) return make_error(ErrorCode::kInvalidArgument, "could not build the certificates");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  VB_TRY(write_file(f.ca_key, ca_key_pem, 0600));
  VB_TRY(write_file(f.private_key, key_pem, 0600));
  VB_TRY(write_file(f.ca_certificate, ca_pem, 0644));
  VB_TRY(write_file(f.certificate, cert_pem + ca_pem, 0644));
  return f;
}

}  // namespace verbatim::sip
