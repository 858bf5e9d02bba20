#include "reconcile/webhook.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/strings.h"

namespace verbatim::reconcile {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

struct Exchange {
  http::request<http::string_body> request;
  http::response<http::string_body> response;
  std::string failed;  // the step that failed and why
};

// Sends the request and reads the response on a connected stream.
template <class Stream>
asio::awaitable<void> send(Stream& stream, Exchange& x) {
  boost::system::error_code ec;
  co_await http::async_write(stream, x.request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    x.failed = "sending: " + ec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  co_await http::async_read(stream, buffer, x.response,
                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec) x.failed = "reading the response: " + ec.message();
}

asio::awaitable<void> run(const Webhook& hook, const WebhookUrl& url, Exchange& x) {
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  tcp::resolver resolver(ex);
  const auto found = co_await resolver.async_resolve(url.host, url.port,
                                                     asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    x.failed = "looking up " + url.host + ": " + ec.message();
    co_return;
  }
  if (!url.tls) {
    beast::tcp_stream stream(ex);
    stream.expires_after(hook.timeout);
    co_await stream.async_connect(found, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      x.failed = "connecting to " + url.host + ":" + url.port + ": " + ec.message();
      co_return;
    }
    co_await send(stream, x);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  if (hook.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(hook.ca_file, ec);
  }
  if (ec) {
    x.failed = "loading the CA certificates: " + ec.message();
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    x.failed = "setting the TLS server name";
    co_return;
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  beast::get_lowest_layer(stream).expires_after(hook.timeout);
  co_await beast::get_lowest_layer(stream).async_connect(
      found, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    x.failed = "connecting to " + url.host + ":" + url.port + ": " + ec.message();
    co_return;
  }
  co_await stream.async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    x.failed = "TLS with " + url.host + ": " + ec.message();
    co_return;
  }
  co_await send(stream, x);
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace

Result<WebhookUrl> parse_webhook_url(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument,
                      "webhook URL '" + std::string(url) + "': " + why);
  };
  WebhookUrl u;
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

Result<int> post_json(const Webhook& hook, const std::string& body) {
  auto url = parse_webhook_url(hook.url);
  if (!url) return url.error();
  Exchange x;
  x.request = {http::verb::post, url.value().target, 11};
  const bool default_port = url.value().port == (url.value().tls ? "443" : "80");
  const bool v6 = url.value().host.find(':') != std::string::npos;
  x.request.set(http::field::host, (v6 ? "[" + url.value().host + "]" : url.value().host) +
                                       (default_port ? "" : ":" + url.value().port));
  x.request.set(http::field::user_agent, "Verbatim");
  x.request.set(http::field::content_type, "application/json");
  x.request.body() = body;
  x.request.prepare_payload();
  asio::io_context io;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await run(hook, url.value(), x);
        finished = true;
      },
      asio::detached);
  // The streams' deadlines bound each step; this bounds the name lookup and the whole exchange.
  io.run_for(hook.timeout + std::chrono::seconds(1));
  if (!finished) {
    return make_error(ErrorCode::kIo, "POST " + hook.url + ": no response within " +
                                          std::to_string(hook.timeout.count()) + " ms");
  }
  if (!x.failed.empty()) {
    return make_error(ErrorCode::kIo, "POST " + hook.url + ": " + x.failed);
  }
  return static_cast<int>(x.response.result_int());
}

}  // namespace verbatim::reconcile
