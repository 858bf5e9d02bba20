// TLS for SIP (RFC 3261 §26.2, RFC 5630) and the REST API: one OpenSSL context per role, made
// from the [tls] settings — the certificate chain and private key the role presents, the CA
// certificates it verifies peers against — with the protocol floor of BCP 195: TLS 1.2 and 1.3
// only, forward-secret AEAD suites only, no compression, no renegotiation. Servers can ask clients
// for certificates (mutual TLS) and require them; clients always verify the server's certificate
// against the CA and against the name (or address) they connected to.
// Thread-safety: a context is built once and shared read-only by every connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "common/result.h"

namespace verbatim::sip {

enum class ClientAuth { kNone, kOptional, kRequire };  // server side: certificates of clients

struct TlsSettings {
  std::string certificate;  // PEM: our certificate, then its chain
  std::string private_key;  // PEM, owner-only
  std::string ca_file;      // PEM: the CAs peers' certificates must chain to
  ClientAuth client_auth = ClientAuth::kOptional;
};

// An error naming the file and what is wrong with it (missing, unreadable, key does not match).
Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const TlsSettings& settings);

// The name a verified peer certificate carries: its first DNS subjectAltName, else its common
// name; empty when there is none (or it did not verify).
std::string certificate_name(SSL* ssl);

// Makes the client side of `ssl` check the server's certificate for `name` (a host name, or an
// IP address) and send it as SNI (host names only).
void expect_server_name(SSL* ssl, const std::string& name);

// `verbatim tls init`: a private CA and a certificate it signs for this host's `names` (DNS) and
// `addresses` (IP), for both serverAuth and clientAuth (the same one serves TLS and presents as
// a client for mutual TLS between gateway and recorder), valid `days`. Writes <dir>/ca.crt,
// ca.key, server.crt (with the CA after it) and server.key; keys 0600. Refuses to overwrite.
struct IssuedFiles {
  std::string ca_certificate, ca_key, certificate, private_key;
};
Result<IssuedFiles> issue_certificates(const std::string& dir,
                                       const std::vector<std::string>& names,
                                       const std::vector<std::string>& addresses, int days = 825);

}  // namespace verbatim::sip
