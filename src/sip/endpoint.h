// SipEndpoint: a user agent listening on one address — UDP and TCP on the same port (RFC 3261
// §18: a server listens on both), optionally TLS on a port of its own (RFC 3261 §26, sip/tls.h)
// and SIP over WebSocket for browsers (RFC 7118, sip/ws_transport.h) — the transaction layer and
// the UserAgent core, wired together on one io_context. The recorder and the gateway run on it; its
// parts stay usable on their own for tests that need to see in between. Threads and ownership: a
// SipEndpoint owns its transports, transaction layer, timers and UA; everything runs on the
// io_context thread it was given.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "sip/tcp_transport.h"
#include "sip/timers.h"
#include "sip/transaction.h"
#include "sip/transport.h"
#include "sip/user_agent.h"
#include "sip/ws_transport.h"

namespace verbatim::sip {

struct EndpointOptions {
  std::string listen = "127.0.0.1:5060";  // port 0: any free port (the same one for UDP and TCP)
  std::string user = "srs";               // the user part of our Contact
  TimerConfig t;
  SessionTimerPolicy session_timers;
  bool tcp = true;
  // TLS (sip/tls.h): with a context, requests to Peers of transport TLS go over TLS connections
  // (verified as tls.h says); with a listen address too ("127.0.0.1:5061", port 0: any), we
  // accept TLS there, and our Contact and Via for TLS sessions name it (;transport=tls).
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string tls_listen;
  TcpOptions tcp_options;  // limits for the TCP and TLS listeners
  // SIP over WebSocket (sip/ws_transport.h), for browsers: wss (needs `tls`) and/or plain ws
  // ("127.0.0.1:8089", port 0: any). Our Contact and Via for their sessions name the listener
  // (;transport=wss or ws).
  std::string wss_listen;
  std::string ws_listen;
  std::vector<std::string> ws_allowed_origins;  // see WsOptions
  // The TLS context for wss; null: `tls`. Browsers must not be asked for a client certificate
  // (Chromium cancels the handshake), so it is a context without client authentication.
  std::shared_ptr<boost::asio::ssl::context> wss_tls;
};

class SipEndpoint {
 public:
  SipEndpoint(boost::asio::io_context& io, EndpointOptions options, UserAgent::Handlers handlers);
  ~SipEndpoint();
  SipEndpoint(const SipEndpoint&) = delete;
  SipEndpoint& operator=(const SipEndpoint&) = delete;

  // Binds UDP (and TCP on the same port) and starts receiving; returns the bound address.
  Result<boost::asio::ip::udp::endpoint> start();
  void close();

  UserAgent& ua() { return *ua_; }
  TransactionLayer& layer() { return *layer_; }
  const TransportStats& udp_stats() const { return udp_->stats(); }
  // "ip:port" we listen on (IPv6 in brackets); for TLS, empty when we do not.
  const std::string& local() const { return local_; }
  const std::string& tls_local() const { return tls_local_; }
  const TcpTransport* tls_transport() const { return tls_.get(); }
  // "ip:port" of the WebSocket listeners; empty when we do not listen.
  const std::string& wss_local() const { return wss_local_; }
  const std::string& ws_local() const { return ws_local_; }
  const WsTransport* wss_transport() const { return wss_.get(); }
  const WsTransport* ws_transport() const { return ws_.get(); }

 private:
  void send(const Message& m, const Peer& to);
  void deliver(Message m, const Peer& from);
  Result<std::string> listen_ws(std::unique_ptr<WsTransport>& t, const std::string& where,
                                bool tls);

  boost::asio::io_context& io_;
  EndpointOptions options_;
  UserAgent::Handlers handlers_;
  AsioTimers timers_;
  std::unique_ptr<UdpTransport> udp_;
  std::unique_ptr<TcpTransport> tcp_;
  std::unique_ptr<TcpTransport> tls_;
  std::unique_ptr<WsTransport> wss_;
  std::unique_ptr<WsTransport> ws_;
  std::unique_ptr<TransactionLayer> layer_;
  std::unique_ptr<UserAgent> ua_;
  std::string local_;
  std::string tls_local_;
  std::string wss_local_;
  std::string ws_local_;
};

}  // namespace verbatim::sip
