// SIP over UDP on Boost.Asio (RFC 3261 §18), IPv4 and IPv6.
//
// Each datagram is one message: parsed (bounded by ParseOptions), requests stamped with
// received= and rport= on their top Via (RFC 3261 §18.2.1, RFC 3581), and handed up. What
// cannot be parsed is dropped and counted; a request that parses but breaks the grammar gets
// a stateless 400 naming the problem when it can be answered (it has the headers a response
// needs), and is counted. Responses are sent back to where the request came from (symmetric
// response routing, which is what rport asks for and what NATs need).
// SIP over TCP and TLS (stream framing, connection reuse) is tcp_transport.h.
// Threads and ownership: a UdpTransport owns its socket; the io_context thread it was given only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>

#include "sip/message.h"
#include "sip/peer.h"

namespace verbatim::sip {

struct TransportStats {
  uint64_t received = 0;
  uint64_t sent = 0;
  uint64_t dropped_unparseable = 0;  // not a SIP message, or a malformed response
  uint64_t rejected_invalid = 0;     // answered 400 (or 505/513) statelessly
};

class UdpTransport {
 public:
  using Handler = std::function<void(Message, const Peer&)>;
  UdpTransport(boost::asio::io_context& io, Handler on_message, ParseOptions options = {});

  // Binds "127.0.0.1:0", "[::1]:5060", ...; port 0 picks one. Returns the bound endpoint.
  Result<boost::asio::ip::udp::endpoint> listen(const std::string& host_port);
  void send(const Message& message, const Peer& to);
  void close();
  const TransportStats& stats() const { return stats_; }

 private:
  void receive();
  void handle(std::string_view datagram, const boost::asio::ip::udp::endpoint& from);

  boost::asio::ip::udp::socket socket_;
  Handler on_message_;
  ParseOptions options_;
  std::array<char, 65536> buffer_{};
  boost::asio::ip::udp::endpoint from_;
  TransportStats stats_;
};

// "127.0.0.1:5060", "[::1]:0": the address and port to listen on (port 0: any).
Result<std::pair<boost::asio::ip::address, uint16_t>> parse_listen_address(
    const std::string& host_port);

// The stateless answer to a request that failed validate() — 400 (505, 513) with a Warning
// naming the problem — or nothing when it must not or cannot be answered: a response, an
// ACK, or a request without the fields a response copies (it is dropped and counted).
std::optional<Message> rejection_for(const Message& message, const Error& problem);

// What every transport does with a message it parsed: true when it may be handed up (a request
// then stamped with where it came from, stamp_received); false when it broke the grammar, and
// then its stateless rejection went to `answer` (counted in stats.rejected_invalid) or, when it
// cannot be answered, it was dropped (stats.dropped_unparseable).
bool admit(Message& message, const Peer& from, TransportStats& stats,
           const std::function<void(const Message& rejection)>& answer);

// RFC 3581 / §18.2.1: adds received=<source address> (when it differs from the sent-by
// host, or rport is present) and fills rport=<source port> when the top Via asks for it.
void stamp_received(Message& request, const Peer& from);

}  // namespace verbatim::sip
