#include "sip/ws_transport.h"

#include <deque>
#include <optional>
#include <type_traits>

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "common/strings.h"
#include "sip/tls.h"
#include "sip/transport.h"

namespace verbatim::sip {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;

namespace {
std::string key_of(const std::string& address, uint16_t port) {
  return address + "|" + std::to_string(port);
}

// Whether a Sec-WebSocket-Protocol list ("sip", "foo, sip") offers "sip".
bool offers_sip(std::string_view list) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (trim(list.substr(0, comma)) == "sip") return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}
}  // namespace

class WsTransport::Connection {
 public:
  virtual ~Connection() = default;
  virtual void write(std::string bytes) = 0;
  virtual void close(uint64_t* counter = nullptr) = 0;
  const Peer& peer() const { return peer_; }
  std::string key() const { return key_of(peer_.address, peer_.port); }

 protected:
  Peer peer_;
};

// One connection, plain (beast::tcp_stream) or wss (an OpenSSL stream over it).
template <class Stream>
class WsTransport::Session : public WsTransport::Connection,
                             public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(WsTransport& owner, const Peer& peer, Args&&... args)
      : owner_(owner), ws_(std::forward<Args>(args)...) {
    peer_ = peer;
  }

  void start() {
    auto& lowest = beast::get_lowest_layer(ws_);
    boost::system::error_code ignored;
    lowest.socket().set_option(tcp::no_delay(true), ignored);
    // The TLS handshake and the upgrade request must be complete in time (T34, slow-loris).
    lowest.expires_after(owner_.options_.tcp.message_timeout);
    if constexpr (kTls) {
      ws_.next_layer().async_handshake(asio::ssl::stream_base::server,
                                       [self = this->shared_from_this()](beast::error_code ec) {
                                         if (ec || self->closed_) {
                                           self->close(&self->owner_.stats_.closed_handshake);
                                           return;
                                         }
                                         self->read_upgrade();
                                       });
    } else {
      read_upgrade();
    }
  }

  void write(std::string bytes) override {
    queue_.push_back(std::move(bytes));
    if (queue_.size() == 1 && upgraded_) write_next();
  }

  void close(uint64_t* counter = nullptr) override {
    if (closed_) return;
    closed_ = true;
    if (counter) ++*counter;
    boost::system::error_code ec;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    owner_.forget(this, upgraded_);
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  void read_upgrade() {
    http::async_read(ws_.next_layer(), buffer_, request_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec || self->closed_) {
                         self->close(&self->owner_.stats_.closed_handshake);
                         return;
                       }
                       self->upgrade();
                     });
  }

  void upgrade() {
    if (!websocket::is_upgrade(request_)) {
      refuse(http::status::upgrade_required,
             "This is a SIP over WebSocket endpoint (RFC 7118): upgrade with the 'sip' "
             "subprotocol.",
             &owner_.stats_.refused_upgrade);
      return;
    }
    const auto origin = request_.find(http::field::origin);
    const std::string origin_text =
        origin == request_.end() ? "" : std::string(origin->value().data(), origin->value().size());
    if (origin != request_.end() && !owner_.origin_allowed(origin_text)) {
      refuse(http::status::forbidden,
             "Origin " + origin_text +
                 " may not use this server's SIP over WebSocket (gateway.ws_allowed_origins).",
             &owner_.stats_.refused_origin);
      return;
    }
    const auto protocols = request_[http::field::sec_websocket_protocol];
    if (!offers_sip(std::string_view(protocols.data(), protocols.size()))) {
      refuse(http::status::bad_request,
             "SIP over WebSocket needs the 'sip' subprotocol (Sec-WebSocket-Protocol: sip, RFC "
             "7118 section 4.1).",
             &owner_.stats_.refused_upgrade);
      return;
    }
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = owner_.options_.tcp.message_timeout;
    t.idle_timeout = owner_.options_.tcp.idle_timeout;
    t.keep_alive_pings = true;  // a silent peer is pinged half-way, and closed if it is gone
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& r) {
      r.set(http::field::sec_websocket_protocol, "sip");
      r.set(http::field::server, "verbatim");
    }));
    ws_.read_message_max(owner_.options_.tcp.parse.max_size);
    ws_.async_accept(request_, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) {
        self->close(&self->owner_.stats_.closed_handshake);
        return;
      }
      self->upgraded_ = true;
      ++self->owner_.stats_.accepted;
      if (!self->queue_.empty()) self->write_next();
      self->read();
    });
  }

  // An HTTP answer to an upgrade we do not take, then the connection is closed.
  void refuse(http::status status, std::string text, uint64_t* counter) {
    response_.result(status);
    response_.version(request_.version());
    response_.set(http::field::server, "verbatim");
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    response_.keep_alive(false);
    response_.body() = std::move(text) + "\n";
    response_.prepare_payload();
    http::async_write(ws_.next_layer(), response_,
                      [self = this->shared_from_this(), counter](beast::error_code, size_t) {
                        self->close(counter);
                      });
  }

  void read() {
    ws_.async_read(in_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec || self->closed_) {
        self->close();
        return;
      }
      std::string text = beast::buffers_to_string(self->in_.data());
      self->in_.consume(self->in_.size());
      self->deliver(text);
      if (!self->closed_) self->read();
    });
  }

  void deliver(const std::string& text) {
    if (text.find_first_not_of("\r\n") == std::string::npos) {
      // A keep-alive (RFC 5626 §4.4.1, which some WebSocket clients send too): a double CRLF
      // is answered with one.
      if (text == "\r\n\r\n") write("\r\n");
      return;
    }
    ++owner_.stats_.received;
    ParseOptions o = owner_.options_.tcp.parse;
    o.datagram = true;  // the WebSocket message is the SIP message (RFC 7118 §5)
    auto m = Message::parse(text, o);
    if (!m) {
      close(&owner_.stats_.closed_framing);
      return;
    }
    if (!admit(m.value(), peer_, owner_.stats_,
               [this](const Message& r) { write(r.serialize()); })) {
      return;
    }
    owner_.on_message_(std::move(m).value(), peer_);
  }

  void write_next() {
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()),
                    [self = this->shared_from_this()](beast::error_code ec, size_t) {
                      if (ec || self->closed_) {
                        self->close();
                        return;
                      }
                      ++self->owner_.stats_.sent;
                      self->queue_.pop_front();
                      if (!self->queue_.empty()) self->write_next();
                    });
  }

  WsTransport& owner_;
  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;  // the upgrade request
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  beast::flat_buffer in_;
  std::deque<std::string> queue_;
  bool upgraded_ = false;
  bool closed_ = false;
};

WsTransport::WsTransport(asio::io_context& io, Handler on_message, ClosedHandler on_closed,
                         WsOptions options)
    : io_(io),
      acceptor_(io),
      on_message_(std::move(on_message)),
      on_closed_(std::move(on_closed)),
      options_(std::move(options)) {}

WsTransport::~WsTransport() {
  // A destructor never throws: Asio reports a failed cancel or close by exception, and there is
  // nothing left to do about it here.
  try {
    close();
  } catch (...) {
  }
}

Result<tcp::endpoint> WsTransport::listen(const std::string& host_port) {
  auto bound = open_listener(acceptor_, host_port, "SIP over WebSocket");
  if (bound) accept();
  return bound;
}

bool WsTransport::origin_allowed(std::string_view origin) const {
  for (const auto& o : options_.allowed_origins) {
    if (o == "*" || iequals(o, origin)) return true;
  }
  return false;
}

void WsTransport::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || closed_) return;
    if (!ec) {
      boost::system::error_code rec;
      const auto remote = socket.remote_endpoint(rec);
      const std::string ip = remote.address().to_string();
      if (rec) {
        socket.close(rec);
      } else if (connections_.size() >= options_.tcp.max_connections ||
                 per_ip_[ip] >= options_.tcp.max_per_ip) {
        ++stats_.refused_limit;
        socket.close(rec);
      } else {
        Peer peer{tls() ? "WSS" : "WS", ip, remote.port()};
        std::shared_ptr<Connection> c;
        if (tls()) {
          auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              *this, peer, std::move(socket), *options_.tcp.tls);
          s->start();
          c = s;
        } else {
          auto s = std::make_shared<Session<beast::tcp_stream>>(*this, peer, std::move(socket));
          s->start();
          c = s;
        }
        ++per_ip_[ip];
        connections_[c->key()] = std::move(c);
      }
    }
    accept();
  });
}

void WsTransport::forget(const Connection* c, bool upgraded) {
  auto it = connections_.find(c->key());
  if (it == connections_.end() || it->second.get() != c) return;
  const Peer peer = c->peer();
  if (auto ip = per_ip_.find(peer.address); ip != per_ip_.end() && --ip->second == 0) {
    per_ip_.erase(ip);
  }
  connections_.erase(it);
  if (upgraded && !closed_ && on_closed_) on_closed_(peer);
}

void WsTransport::send(const Message& message, const Peer& to) {
  auto it = connections_.find(key_of(to.address, to.port));
  if (it == connections_.end()) {
    ++stats_.no_connection;  // the transaction layer times out, and the caller learns it
    return;
  }
  it->second->write(message.serialize());
}

void WsTransport::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  auto all = connections_;
  for (auto& [k, c] : all) c->close();
  connections_.clear();
  per_ip_.clear();
}

}  // namespace verbatim::sip
