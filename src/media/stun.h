// STUN (RFC 8489) as an ICE-lite agent needs it (RFC 8445 §2.5): a browser's connectivity
// checks are Binding requests to the gateway's media port; the gateway answers the ones whose
// USERNAME names its ufrag and whose MESSAGE-INTEGRITY verifies with its password, and only the
// addresses it has answered that way may then send it DTLS and SRTP ("no media from addresses
// that ICE has not checked").
//
// Hand-written, and small on purpose: the well-kept ICE libraries (libnice, libjuice) are full
// agents with their own sockets and event loops, while a lite agent only answers requests on
// sockets the gateway already reads (one port per call, demultiplexed by the first byte,
// RFC 7983: media::classify in rtp.h). HMAC-SHA1 is OpenSSL's and CRC-32 Boost's.
// Threads and ownership: plain functions and values; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "common/result.h"

namespace verbatim::media {

using StunTransaction = std::array<uint8_t, 12>;

struct BindingRequest {
  StunTransaction transaction{};
  std::string username;  // "<receiver's ufrag>:<sender's ufrag>"
  uint32_t priority = 0;
  bool use_candidate = false;  // the controlling agent nominates this pair
  bool controlling = false;    // ICE-CONTROLLING present (a browser offering to a lite agent)
};

// A Binding request checked as RFC 8489 §9.1.3 and RFC 8445 §7.3 ask: a STUN message of the
// Binding method and request class, a FINGERPRINT (when present) that matches, and a
// MESSAGE-INTEGRITY that verifies with `password`. The error says which check failed, and its
// code what to answer (stun_error_for): kInvalidArgument 400 Bad Request, kUnauthenticated
// 401 Unauthorized, kNotFound nothing (not a Binding request at all).
Result<BindingRequest> check_binding_request(std::span<const uint8_t> datagram,
                                             std::string_view password);

// The success response to a checked request from `from` (XOR-MAPPED-ADDRESS, RFC 8489 §14.2),
// with MESSAGE-INTEGRITY keyed by `password` and FINGERPRINT; `software`: a SOFTWARE attribute
// first (empty: none).
std::vector<uint8_t> binding_success(const StunTransaction& transaction,
                                     const boost::asio::ip::udp::endpoint& from,
                                     std::string_view password, std::string_view software = "");

// The STUN error code for a failed check_binding_request (0: do not answer).
int stun_error_for(const Error& e);

// An error response (ERROR-CODE, FINGERPRINT; no integrity: the request's did not verify).
std::vector<uint8_t> binding_error(const StunTransaction& transaction, int code,
                                   std::string_view reason);

// A Binding request as an ICE agent sends it (USERNAME, PRIORITY, ICE-CONTROLLING with a
// tie-breaker, USE-CANDIDATE when nominating, MESSAGE-INTEGRITY keyed by `password`,
// FINGERPRINT): what a browser sends us; the tests use it as one.
std::vector<uint8_t> binding_request(const StunTransaction& transaction, std::string_view username,
                                     std::string_view password, uint32_t priority,
                                     bool use_candidate);

// The gateway's side of ICE-lite for one media session: its credentials (a=ice-ufrag and
// a=ice-pwd in its SDP), the peer's, and the addresses whose checks it answered. Media, DTLS
// included, is taken only from such an address; the nominated one (USE-CANDIDATE) is where the
// gateway sends, else the last one checked.
class IceLite {
 public:
  IceLite();  // fresh random credentials (RFC 8445 §5.3: 4+ and 22+ ice-chars)
  IceLite(std::string ufrag, std::string pwd);
  const std::string& ufrag() const { return ufrag_; }
  const std::string& pwd() const { return pwd_; }
  // The peer's a=ice-ufrag (its USERNAME part is checked once known).
  void set_remote_ufrag(std::string ufrag) { remote_ufrag_ = std::move(ufrag); }

  // A STUN datagram from `from`: what to answer (empty: nothing; a response or an error).
  std::vector<uint8_t> on_stun(std::span<const uint8_t> datagram,
                               const boost::asio::ip::udp::endpoint& from);
  bool checked(const boost::asio::ip::udp::endpoint& from) const;
  std::optional<boost::asio::ip::udp::endpoint> selected() const;
  static constexpr size_t kMaxChecked = 8;  // bounded: a peer has a handful of candidates

 private:
  std::string ufrag_, pwd_, remote_ufrag_;
  std::vector<boost::asio::ip::udp::endpoint> checked_;  // oldest first
  std::optional<boost::asio::ip::udp::endpoint> nominated_;
};

// For tests and diagnostics: the XOR-MAPPED-ADDRESS of a success response, when it has one and
// its integrity verifies with `password`.
std::optional<boost::asio::ip::udp::endpoint> mapped_address(std::span<const uint8_t> response,
                                                             std::string_view password);

}  // namespace verbatim::media
