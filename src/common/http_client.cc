#include "common/http_client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/strings.h"

namespace verbatim {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

// One request and its response, step by step on the caller's io_context: resolve, connect, (TLS
// handshake), write, read. Each step's failure ends it with `failed` saying which and why.
// (Callbacks, not coroutines: Boost 1.74's awaitables need a compiler feature clang lacks here.)
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(asio::io_context& io, const HttpOptions& options, HttpUrl url)
      : options_(options), url_(std::move(url)), resolver_(io), plain_(io) {}
  http::request<http::string_body> request;
  http::response_parser<http::string_body> parser;
  std::string failed;  // the step that failed and why
  bool done = false;

  // Stops whatever is under way: its handler runs with operation_aborted.
  void cancel() {
    resolver_.cancel();
    lowest().close();
  }

  void start(asio::io_context& io) {
    if (url_.tls) {
      tls_ctx_.emplace(asio::ssl::context::tls_client);
      tls_ctx_->set_verify_mode(asio::ssl::verify_peer);
      boost::system::error_code ec;
      if (options_.ca_file.empty()) {
        tls_ctx_->set_default_verify_paths(ec);
      } else {
        tls_ctx_->load_verify_file(options_.ca_file, ec);
      }
      if (ec) return finish("loading the CA certificates: " + ec.message());
      tls_.emplace(io, *tls_ctx_);
      if (!SSL_set_tlsext_host_name(tls_->native_handle(), url_.host.c_str())) {
        return finish("setting the TLS server name");
      }
      tls_->set_verify_callback(asio::ssl::host_name_verification(url_.host));
    }
    resolver_.async_resolve(
        url_.host, url_.port,
        [self = shared_from_this()](const boost::system::error_code& ec,
                                    const tcp::resolver::results_type& found) {
          if (ec) return self->finish("looking up " + self->url_.host + ": " + ec.message());
          self->connect(found);
        });
  }

 private:
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : plain_; }

  void connect(const tcp::resolver::results_type& found) {
    lowest().expires_after(options_.timeout);
    lowest().async_connect(found, [self = shared_from_this()](const boost::system::error_code& ec,
                                                              const tcp::endpoint&) {
      if (ec) {
        return self->finish("connecting to " + self->url_.host + ":" + self->url_.port + ": " +
                            ec.message());
      }
      if (!self->tls_) return self->send(self->plain_);
      self->tls_->async_handshake(
          asio::ssl::stream_base::client, [self](const boost::system::error_code& e) {
            if (e) {
              return self->finish("TLS with " + self->url_.host + ": " + e.message());
            }
            self->send(*self->tls_);
          });
    });
  }

  template <class Stream>
  void send(Stream& stream) {
    http::async_write(
        stream, request,
        [self = shared_from_this(), &stream](const boost::system::error_code& ec, size_t) {
          if (ec) return self->finish("sending: " + ec.message());
          http::async_read(stream, self->buffer_, self->parser,
                           [self](const boost::system::error_code& e, size_t) {
                             self->finish(e ? "reading the response: " + e.message() : "");
                           });
        });
  }

  void finish(std::string why) {
    failed = std::move(why);
    done = true;
    boost::system::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  const HttpOptions& options_;
  HttpUrl url_;
  tcp::resolver resolver_;
  beast::tcp_stream plain_;
  std::optional<asio::ssl::context> tls_ctx_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
};

}  // namespace

std::string HttpUrl::authority() const {
  const bool default_port = port == (tls ? "443" : "80");
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + (default_port ? "" : ":" + port);
}

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Result<HttpUrl> parse_http_url(std::string_view url, std::string_view what) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(what) + " '" + std::string(url) + "': " + why);
  };
  HttpUrl u;
  std::string_view rest;
  if (istarts_with(url, "http://")) {
    rest = url.substr(7);
    u.port = "80";
  } else if (istarts_with(url, "https://")) {
    rest = url.substr(8);
    u.tls = true;
    u.port = "443";
  } else {
    return bad("give an http:// or https:// URL");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.target = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    return bad("credentials in the URL are not supported; put a token in its path or query");
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address without its ']'");
    u.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("text after the IPv6 address");
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
      return bad("the port must be 1 to 65535");
    }
    u.port = std::string(port);
  }
  return u;
}

Result<HttpResponse> http_exchange(const HttpUrl& url, const HttpRequest& request,
                                   const HttpOptions& options) {
  asio::io_context io;
  auto x = std::make_shared<Exchange>(io, options, url);
  x->request = {http::string_to_verb(request.method), request.target, 11};
  if (x->request.method() == http::verb::unknown) {
    return make_error(ErrorCode::kInvalidArgument, "unknown HTTP method " + request.method);
  }
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    x->request.set(name, value);
    has_host = has_host || iequals(name, "host");
  }
  if (!has_host) x->request.set(http::field::host, url.authority());
  if (x->request.find(http::field::user_agent) == x->request.end()) {
    x->request.set(http::field::user_agent, "Verbatim");
  }
  x->request.body() = request.body;
  x->request.prepare_payload();
  // Large enough for a ranged read or a listing; a HEAD reply has no body to wait for.
  x->parser.body_limit(uint64_t{256} << 20);
  x->parser.skip(x->request.method() == http::verb::head);
  x->start(io);
  // The stream's deadline bounds each step; this bounds the name lookup and the whole exchange.
  io.run_for(options.timeout + std::chrono::seconds(1));
  const bool timed_out = !x->done;
  if (timed_out) {  // the handlers still queued end before the loop and the exchange go
    x->cancel();
    io.restart();
    io.run();
  }
  const std::string what = request.method + " " + (url.tls ? "https://" : "http://") +
                           url.authority() + request.target.substr(0, request.target.find('?'));
  if (timed_out) {
    return make_error(ErrorCode::kIo, what + ": no response within " +
                                          std::to_string(options.timeout.count()) + " ms");
  }
  if (!x->failed.empty()) return make_error(ErrorCode::kIo, what + ": " + x->failed);
  auto& got = x->parser.get();
  HttpResponse r;
  r.status = static_cast<int>(got.result_int());
  for (const auto& field : got) {
    r.headers[to_lower(std::string(field.name_string()))] = std::string(field.value());
  }
  r.body = std::move(got.body());
  return r;
}

}  // namespace verbatim
