// DTLS-SRTP (RFC 5763/5764): how a browser and the gateway agree on SRTP keys. Each side has a
// self-signed certificate whose fingerprint it sends in SDP (a=fingerprint); the DTLS handshake
// runs on the media port, each side checks that the certificate it got has the fingerprint the
// SDP said (RFC 8122: the only thing that binds the media to the signalling), and both take the
// SRTP master keys from the handshake (the "EXTRACTOR-dtls_srtp" exporter). The keys then feed
// the same libsrtp2 sessions as SDES keys do (srtp.h).
// DTLS is OpenSSL's, over memory BIOs: the caller moves datagrams between the socket it already
// reads (one port per call, RFC 7983 demultiplexing) and this object, so no socket or thread is
// added per call. Only peers ICE has checked (stun.h) may reach it: the caller's job.
// Threads and ownership: a DtlsSrtp is used on one thread (its call's); a DtlsIdentity is
// immutable once made and shared by every call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "media/srtp.h"

using SSL_CTX = struct ssl_ctx_st;
using SSL = struct ssl_st;
using X509_STORE_CTX = struct x509_store_ctx_st;

namespace verbatim::media {

// The certificate the gateway presents in DTLS: ECDSA P-256, self-signed, made at start.
class DtlsIdentity {
 public:
  static Result<std::shared_ptr<const DtlsIdentity>> generate();
  ~DtlsIdentity();
  DtlsIdentity(const DtlsIdentity&) = delete;
  DtlsIdentity& operator=(const DtlsIdentity&) = delete;
  // "sha-256 AB:CD:...": the value of our a=fingerprint.
  const std::string& fingerprint() const { return fingerprint_; }
  SSL_CTX* context() const { return ctx_; }

 private:
  DtlsIdentity() = default;
  SSL_CTX* ctx_ = nullptr;
  std::string fingerprint_;
};

using Datagrams = std::vector<std::vector<uint8_t>>;

class DtlsSrtp {
 public:
  // a=setup (RFC 4145/5763): the side that is "active" sends the ClientHello.
  enum class Role { kClient, kServer };
  // `remote_fingerprint`: the peer's a=fingerprint ("sha-256 AB:CD:..."; sha-1, sha-256, sha-384
  // and sha-512 are known). An error when it cannot be read.
  static Result<std::unique_ptr<DtlsSrtp>> create(std::shared_ptr<const DtlsIdentity> identity,
                                                  Role role, const std::string& remote_fingerprint);
  ~DtlsSrtp();
  DtlsSrtp(const DtlsSrtp&) = delete;
  DtlsSrtp& operator=(const DtlsSrtp&) = delete;

  // The client's first flight (nothing for a server).
  Datagrams start();
  // A DTLS datagram from the peer; what to send back.
  Datagrams receive(std::span<const uint8_t> datagram);
  // Retransmits a lost flight when its timer expired (call every few hundred ms until done).
  Datagrams on_timer();

  bool done() const { return done_; }
  // OpenSSL's certificate callback (for DtlsIdentity's context).
  static int verify(int preverified, X509_STORE_CTX* store);
  // Why the handshake failed for good (empty: it has not): a certificate that does not match
  // a=fingerprint, no SRTP profile in common, a TLS alert.
  const std::string& failure() const { return failure_; }
  // Once done: the key we send with, and the one the peer sends with (we receive with).
  const SdesKey& local_key() const { return local_key_; }
  const SdesKey& remote_key() const { return remote_key_; }

 private:
  DtlsSrtp() = default;
  Datagrams drain();
  void advance();
  void fail(std::string why);

  std::shared_ptr<const DtlsIdentity> identity_;
  SSL* ssl_ = nullptr;
  Role role_ = Role::kServer;
  std::string expected_algorithm_;  // "sha-256"
  std::vector<uint8_t> expected_digest_;
  bool done_ = false;
  bool mismatch_ = false;
  std::string failure_;
  SdesKey local_key_, remote_key_;
};

}  // namespace verbatim::media
