#include "sip/endpoint.h"

namespace verbatim::sip {

SipEndpoint::SipEndpoint(boost::asio::io_context& io, EndpointOptions options,
                         UserAgent::Handlers handlers)
    : io_(io), options_(std::move(options)), handlers_(std::move(handlers)), timers_(io) {}

SipEndpoint::~SipEndpoint() {
  // A destructor never throws: Asio reports a failed close by exception, and there is nothing
  // left to do about it here.
  try {
    close();
  } catch (...) {
  }
}

Result<boost::asio::ip::udp::endpoint> SipEndpoint::start() {
  const std::string& listen = options_.listen;
  const bool any_port = listen.size() > 2 && listen.substr(listen.size() - 2) == ":0";
  boost::asio::ip::udp::endpoint bound;
  // With port 0 the number the system gives for UDP may be taken for TCP: then another one.
  for (int attempt = 0;; ++attempt) {
    udp_ = std::make_unique<UdpTransport>(
        io_, [this](Message m, const Peer& p) { deliver(std::move(m), p); });
    auto ep = udp_->listen(listen);
    if (!ep) return ep.error();
    bound = ep.value();
    if (!options_.tcp) break;
    tcp_ = std::make_unique<TcpTransport>(
        io_, [this](Message m, const Peer& p) { deliver(std::move(m), p); }, options_.tcp_options);
    const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                     : bound.address().to_string();
    auto t = tcp_->listen(host + ":" + std::to_string(bound.port()));
    if (t) break;
    udp_->close();
    if (!any_port || attempt == 20) return t.error();
  }
  local_ = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                    : bound.address().to_string()) +
           ":" + std::to_string(bound.port());
  if (options_.tls) {
    TcpOptions to = options_.tcp_options;
    to.tls = options_.tls;
    tls_ = std::make_unique<TcpTransport>(
        io_, [this](Message m, const Peer& p) { deliver(std::move(m), p); }, to);
    if (!options_.tls_listen.empty()) {
      auto t = tls_->listen(options_.tls_listen);
      if (!t) return t.error();
      const auto& a = t.value().address();
      tls_local_ = (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" +
                   std::to_string(t.value().port());
    }
  }
  if (!options_.wss_listen.empty()) {
    if (!options_.tls && !options_.wss_tls) {
      return make_error(ErrorCode::kInvalidArgument,
                        "SIP over secure WebSocket needs a TLS certificate");
    }
    auto l = listen_ws(wss_, options_.wss_listen, true);
    if (!l) return l.error();
    wss_local_ = l.value();
  }
  if (!options_.ws_listen.empty()) {
    auto l = listen_ws(ws_, options_.ws_listen, false);
    if (!l) return l.error();
    ws_local_ = l.value();
  }
  layer_ = std::make_unique<TransactionLayer>(
      timers_,
      TransactionLayer::Callbacks{
          [this](const Message& m, const Peer& p) { send(m, p); },
          [this](uint64_t id, const Message& r, const Peer& f, uint64_t c) {
            ua_->on_request(id, r, f, c);
          },
          [this](const Message& m, const Peer& f) { ua_->on_stray(m, f); },
          [this](uint64_t id, std::string_view why) { ua_->on_server_failed(id, why); }},
      options_.t);
  UaOptions uo;
  uo.contact = "<sip:" + options_.user + "@" + local_ + ">";
  uo.via_sent_by = local_;
  for (const auto& [transport, where] :
       {std::pair{"TLS", tls_local_}, std::pair{"WSS", wss_local_}, std::pair{"WS", ws_local_}}) {
    if (where.empty()) continue;
    std::string param = transport;
    for (char& c : param) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string contact = "<sip:" + options_.user;
    contact.append("@").append(where).append(";transport=").append(param).append(">");
    uo.listening[transport] = {std::move(contact), where};
  }
  uo.t = options_.t;
  uo.timers = options_.session_timers;
  ua_ = std::make_unique<UserAgent>(*layer_, timers_, uo, handlers_);
  return bound;
}

Result<std::string> SipEndpoint::listen_ws(std::unique_ptr<WsTransport>& t,
                                           const std::string& where, bool tls) {
  WsOptions wo;
  wo.tcp = options_.tcp_options;
  if (tls) wo.tcp.tls = options_.wss_tls ? options_.wss_tls : options_.tls;
  wo.allowed_origins = options_.ws_allowed_origins;
  t = std::make_unique<WsTransport>(
      io_, [this](Message m, const Peer& p) { deliver(std::move(m), p); },
      [this](const Peer& p) {
        if (ua_) ua_->flow_closed(p);
      },
      std::move(wo));
  auto bound = t->listen(where);
  if (!bound) return bound.error();
  const auto& a = bound.value().address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" +
         std::to_string(bound.value().port());
}

void SipEndpoint::close() {
  if (udp_) udp_->close();
  if (tcp_) tcp_->close();
  if (tls_) tls_->close();
  if (wss_) wss_->close();
  if (ws_) ws_->close();
}

void SipEndpoint::send(const Message& m, const Peer& to) {
  if (to.transport == "TLS") {
    // Never in the clear instead: without TLS set up, the request is not sent (the transaction
    // times out and the caller learns why from the log).
    if (tls_) tls_->send(m, to);
  } else if (to.transport == "TCP" && tcp_) {
    tcp_->send(m, to);
  } else if (to.websocket()) {
    // Only on the connection the browser opened; never over another transport instead.
    WsTransport* ws = to.transport == "WSS" ? wss_.get() : ws_.get();
    if (ws) ws->send(m, to);
  } else {
    udp_->send(m, to);
  }
}

void SipEndpoint::deliver(Message m, const Peer& from) {
  if (layer_) layer_->on_message(std::move(m), from);
}

}  // namespace verbatim::sip
