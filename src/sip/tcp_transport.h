// SIP over TCP on Boost.Asio (RFC 3261 §18.3): stream framing by Content-Length, connection
// reuse in both directions (a response goes back on the connection its request came in on;
// a request to a peer reuses an open connection or opens one), and the defences a
// network-facing listener needs (reliability test T34, slow-loris):
//   - at most `max_per_ip` connections from one address and `max_connections` in all; more
//     are closed at once and counted;
//   - a peer that connects must complete its first message (and TLS handshake) within
//     `message_timeout`, and any message that has begun must be complete within
//     `message_timeout`; a connection is closed after `idle_timeout` without traffic;
//   - a malformed frame (bad or missing Content-Length, oversized header section) closes the
//     connection, since the stream cannot be resynchronised; a message that frames but breaks
//     the grammar gets a 400 on the same connection (when it can be answered) and the
//     connection stays.
// TLS (SIPS, RFC 3261 §26.2) is the same over an OpenSSL stream: give TcpOptions a TLS
// context and the transport speaks TLS only (Peer::transport "TLS"); the handshake counts
// against message_timeout, so a peer that stalls it is cut like any slow sender.
// Threads and ownership: a TcpTransport owns its acceptors and connections; the io_context thread
// it was given only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sip/message.h"
#include "sip/transport.h"

namespace verbatim::sip {

// Opens, binds ("127.0.0.1:5061", "[::1]:0") and listens on `acceptor`; the bound endpoint, or
// an error that says what could not listen where ("cannot listen for <what> on <where>: ...").
Result<boost::asio::ip::tcp::endpoint> open_listener(boost::asio::ip::tcp::acceptor& acceptor,
                                                     const std::string& host_port,
                                                     const std::string& what);

struct TcpOptions {
  ParseOptions parse;
  size_t max_connections = 10000;
  size_t max_per_ip = 64;
  std::chrono::milliseconds message_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};
  // Set: TLS on every connection (server side with its certificate; client side verifying
  // the peer as the context says).
  std::shared_ptr<boost::asio::ssl::context> tls;
};

struct TcpStats : TransportStats {
  uint64_t accepted = 0;
  uint64_t refused_limit = 0;   // over max_per_ip or max_connections
  uint64_t closed_timeout = 0;  // slow or idle
  uint64_t closed_framing = 0;  // malformed stream
  uint64_t closed_tls = 0;      // TLS handshake or record failures
  uint64_t evicted = 0;         // closed at capacity to make room (never sent a valid message)
  uint64_t connect_failures = 0;
};

class TcpTransport {
 public:
  using Handler = std::function<void(Message, const Peer&)>;
  TcpTransport(boost::asio::io_context& io, Handler on_message, TcpOptions options = {});
  ~TcpTransport();

  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host_port);
  // Sends on the open connection to `to`, or connects first. Failures are counted.
  void send(const Message& message, const Peer& to);
  void close();
  size_t connections() const { return connections_.size(); }
  const TcpStats& stats() const { return stats_; }

 private:
  class Connection;
  void accept();
  void adopt(std::shared_ptr<Connection> c);
  void forget(const Connection* c);
  void evict_oldest_unproven();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler on_message_;
  TcpOptions options_;
  std::map<std::string, std::shared_ptr<Connection>> connections_;  // "addr|port" -> connection
  std::map<std::string, size_t> per_ip_;
  std::deque<std::weak_ptr<Connection>> unproven_;  // accepted connections, oldest first
  std::map<std::string, std::vector<std::string>> connecting_;  // messages waiting for a connect
  TcpStats stats_;
  bool closed_ = false;
  friend class Connection;
};

}  // namespace verbatim::sip
