// SIP over WebSocket (RFC 7118) on Boost.Beast: what a browser speaks. The WebSocket handshake
// (RFC 6455) and its framing are Beast's; this module adds what SIP needs on top:
//   - the upgrade must ask for the "sip" subprotocol (RFC 7118 §4.1), else 400 and closed; a
//     plain HTTP request gets 426;
//   - a browser's Origin must be one the operator allows (`allowed_origins`; "*": any), else 403
//     before any SIP is read: a page elsewhere cannot use a signed-in user's browser to place
//     calls. A client without Origin is not a browser (nothing to forge) and is let in;
//   - each WebSocket message is one SIP message, text or binary (RFC 7118 §5), at most
//     ParseOptions::max_size; a message that does not parse closes the connection, one that
//     parses but breaks the grammar gets a 400 on it;
//   - a browser cannot be connected to: requests to it go on the connection it opened (its
//     Contact is a made-up ".invalid" host, RFC 7118 §5.2), keyed like TCP by address and port;
//     with no such connection the message is dropped and counted;
//   - the same limits as TCP (connections in all and per address; the upgrade, and the TLS
//     handshake first for wss, within `message_timeout`); an idle connection is pinged and, when
//     the peer does not answer within `idle_timeout`, closed;
//   - every connection that closes after its upgrade is reported (`on_closed`): a registration
//     over it can no longer be reached, and a call over it has lost its signalling.
// wss is the same over OpenSSL (TcpOptions::tls set): Peer::transport "WSS", otherwise "WS".
// Threads and ownership: a WsTransport owns its acceptor and connections; the io_context thread
// it was given only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "sip/message.h"
#include "sip/tcp_transport.h"

namespace verbatim::sip {

struct WsOptions {
  TcpOptions tcp;  // limits, timeouts, and TLS (wss) when its context is set
  // Origins a browser may connect from ("https://portal.example.com:8443"); "*": any.
  std::vector<std::string> allowed_origins;
};

struct WsStats : TransportStats {
  uint64_t accepted = 0;
  uint64_t refused_limit = 0;     // over max_per_ip or max_connections
  uint64_t refused_origin = 0;    // an Origin not allowed (403)
  uint64_t refused_upgrade = 0;   // not a WebSocket upgrade, or no "sip" subprotocol
  uint64_t closed_handshake = 0;  // TLS or upgrade not completed (in time)
  uint64_t closed_framing = 0;    // a message that is not SIP
  uint64_t no_connection = 0;     // a message for a peer with no open connection
};

class WsTransport {
 public:
  using Handler = std::function<void(Message, const Peer&)>;
  using ClosedHandler = std::function<void(const Peer&)>;
  WsTransport(boost::asio::io_context& io, Handler on_message, ClosedHandler on_closed,
              WsOptions options);
  ~WsTransport();
  WsTransport(const WsTransport&) = delete;
  WsTransport& operator=(const WsTransport&) = delete;

  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host_port);
  // Sends on the open connection to `to` (there is no connecting to a browser).
  void send(const Message& message, const Peer& to);
  void close();
  size_t connections() const { return connections_.size(); }
  const WsStats& stats() const { return stats_; }
  bool tls() const { return options_.tcp.tls != nullptr; }

  class Connection;

 private:
  template <class Stream>
  class Session;
  void accept();
  void forget(const Connection* c, bool upgraded);
  bool origin_allowed(std::string_view origin) const;

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler on_message_;
  ClosedHandler on_closed_;
  WsOptions options_;
  std::map<std::string, std::shared_ptr<Connection>> connections_;  // "addr|port" -> connection
  std::map<std::string, size_t> per_ip_;
  WsStats stats_;
  bool closed_ = false;
};

}  // namespace verbatim::sip
