#include "sip/tls.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

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
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                       ssl::context::no_compression,
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

}  // namespace verbatim::sip
