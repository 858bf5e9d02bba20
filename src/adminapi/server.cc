#include "adminapi/server.h"

#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <deque>

namespace verbatim::adminapi {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kBodyLimit = 1 << 20;
constexpr auto kIdleTimeout = std::chrono::seconds(30);

// One connection: plain (beast::tcp_stream) or HTTPS (ssl::stream over it). The TLS handshake
// counts against the idle timeout, so a peer that stalls it is cut like one that stalls a request.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(Router& router, asio::thread_pool& workers, Args&&... args)
      : stream_(std::forward<Args>(args)...), router_(router), workers_(workers) {}

  void start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return;  // not TLS, or a certificate problem: no answer
                                self->read();
                              });
    } else {
      read();
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  void read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout) {
      shutdown();
      return;
    }
    if (ec) {
      if (ec == http::error::body_limit) {
        write(make_error_response(http::status::payload_too_large, "request body over 1 MiB"));
      } else if (ec != asio::error::operation_aborted) {
        write(make_error_response(http::status::bad_request, "malformed HTTP request"));
      }
      return;
    }
    Request req = parser_->release();
    const std::string peer = [&] {
      beast::error_code e;
      auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(e);
      return e ? std::string("?") : ep.address().to_string();
    }();
    // Live listening (live.h): the router decides, then this connection becomes its WebSocket.
    if (websocket::is_upgrade(req)) {
      auto opened = router_.live_open(req, peer);
      if (auto* refused = std::get_if<Response>(&opened)) {
        refused->keep_alive(false);
        write(std::move(*refused));
        return;
      }
      start_live(req, std::move(std::get<std::unique_ptr<LiveFeed>>(opened)));
      return;
    }
    if (Router::runs_off_loop(req)) {
      // Long reads (the call records) on a worker: the loop keeps serving SIP and media.
      asio::post(workers_, [self = this->shared_from_this(), req = std::move(req), peer]() {
        Response res = self->router_.handle(req, peer);
        asio::post(self->stream_.get_executor(),
                   [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
      });
      return;
    }
    Response res = router_.handle(req, peer);
    write(std::move(res));
  }

  Response make_error_response(http::status status, const std::string& message) {
    Response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"error\": {\"message\": \"" + message + "\"}}\n";
    res.keep_alive(false);
    res.prepare_payload();
    return res;
  }

  void write(Response res) {
    if constexpr (kTls) {
      res.set(http::field::strict_transport_security, "max-age=31536000");
    }
    auto msg = std::make_shared<Response>(std::move(res));
    http::async_write(stream_, *msg,
                      [self = this->shared_from_this(), msg](beast::error_code ec, size_t) {
                        if (ec) return;
                        if (msg->keep_alive()) {
                          self->read();
                        } else {
                          self->shutdown();
                        }
                      });
  }

  // The WebSocket of one listener: the feed's header as text, then its Opus packets as binary
  // messages every LiveFeed::kTick, until the call ends (a close frame) or the listener goes.
  // Nothing the listener sends is used (there is no whisper); reading only sees its close. A
  // listener that cannot keep up (over 4 s of audio queued) is cut off.
  void start_live(const Request& req, std::unique_ptr<LiveFeed> feed) {
    beast::get_lowest_layer(stream_).expires_never();
    feed_ = std::move(feed);
    ws_ = std::make_unique<websocket::stream<Stream&>>(stream_);
    ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_->async_accept(req, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) {
        self->stop_live();
        return;
      }
      self->send(self->feed_->header().dump(), true);
      self->live_tick();
      self->live_read();
    });
  }

  void live_tick() {
    if (!feed_) return;
    if (!timer_) timer_.emplace(stream_.get_executor());
    timer_->expires_after(LiveFeed::kTick);
    timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || !self->feed_) return;
      auto due = self->feed_->poll(std::chrono::system_clock::now());
      if (!due) {
        spdlog::warn("live: {}", due.error().message);
        self->close_live();
        return;
      }
      for (auto& m : due.value()) self->send(std::move(m), false);
      if (self->outq_.size() > 200) {  // 4 s behind
        self->close_live();
        return;
      }
      if (self->feed_->ended()) {
        self->close_live();
        return;
      }
      self->live_tick();
    });
  }

  void live_read() {
    ws_->async_read(ws_buffer_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->stop_live();
        return;
      }
      self->ws_buffer_.consume(self->ws_buffer_.size());
      self->live_read();
    });
  }

  void send(std::string message, bool text) {
    outq_.emplace_back(std::move(message), text);
    if (!writing_) write_next();
  }

  void write_next() {
    if (outq_.empty() || !ws_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    ws_->text(outq_.front().second);
    ws_->async_write(asio::buffer(outq_.front().first),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (!self->outq_.empty()) self->outq_.pop_front();
                       if (ec) {
                         self->stop_live();
                         return;
                       }
                       self->write_next();
                     });
  }

  void close_live() {
    if (!ws_ || closing_) return;
    closing_ = true;
    if (timer_) timer_->cancel();
    ws_->async_close(websocket::close_code::normal,
                     [self = this->shared_from_this()](beast::error_code) { self->stop_live(); });
  }

  // The listen is over: the feed goes (its end is logged), the timer stops.
  void stop_live() {
    if (timer_) timer_->cancel();
    feed_.reset();
  }

  void shutdown() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Router& router_;
  asio::thread_pool& workers_;
  // Live listening (after an upgrade).
  std::unique_ptr<websocket::stream<Stream&>> ws_;
  std::unique_ptr<LiveFeed> feed_;
  std::optional<asio::steady_timer> timer_;
  beast::flat_buffer ws_buffer_;
  std::deque<std::pair<std::string, bool>> outq_;
  bool writing_ = false, closing_ = false;
};

}  // namespace

class HttpServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Router& router) : io_(io), acceptor_(io), router_(router) {}

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](beast::error_code ec,
                                                                               tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (self->tls_) {
          std::make_shared<Session<ssl::stream<beast::tcp_stream>>>(self->router_, self->workers_,
                                                                    std::move(s), *self->tls_)
              ->start();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(self->router_, self->workers_, std::move(s))
              ->start();
        }
      }
      self->accept();
    });
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  Router& router_;
  std::shared_ptr<ssl::context> tls_;
  asio::thread_pool workers_{2};
};

Result<tcp::endpoint> parse_endpoint(const std::string& address) {
  std::string host;
  std::string port;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return make_error(ErrorCode::kInvalidArgument, "bad listen address '" + address + "'");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument,
                        "bad listen address '" + address + "' (expected host:port)");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) return make_error(ErrorCode::kInvalidArgument, "bad listen host '" + host + "'");
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "bad listen port '" + port + "'");
  }
  return tcp::endpoint(ip, static_cast<unsigned short>(p));
}

HttpServer::HttpServer(asio::io_context& io, Router& router, std::shared_ptr<ssl::context> tls)
    : impl_(std::make_shared<Impl>(io, router)) {
  impl_->tls_ = std::move(tls);
}

HttpServer::~HttpServer() { stop(); }

Result<tcp::endpoint> HttpServer::listen(const std::string& address) {
  auto ep = parse_endpoint(address);
  if (!ep) return ep.error();
  beast::error_code ec;
  auto& a = impl_->acceptor_;
  a.open(ep.value().protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep.value(), ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot listen on " + address + ": " + ec.message());
  }
  impl_->accept();
  return a.local_endpoint();
}

void HttpServer::stop() {
  beast::error_code ec;
  impl_->acceptor_.close(ec);
}

}  // namespace verbatim::adminapi
