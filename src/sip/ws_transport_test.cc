#include "sip/ws_transport.h"

#include <gtest/gtest.h>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <future>

#include "sip/test_certificates.h"

namespace verbatim::sip {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;

std::string register_request(const std::string& branch) {
  return "REGISTER sip:contoso.com SIP/2.0\r\n"
         "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=" +
         branch +
         "\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:alice@contoso.com>;tag=1\r\nTo: "
         "<sip:alice@contoso.com>\r\n"
         "Call-ID: " +
         branch +
         "@x\r\nCSeq: 1 REGISTER\r\n"
         "Contact: <sip:k3h2@df7jal23ls0d.invalid;transport=ws>\r\n\r\n";  // no Content-Length
}

// The transport on its own io_context, driven from the test thread; clients are synchronous Beast
// WebSocket clients on threads of their own (std::async), as a browser is another process.
struct WsHarness {
  asio::io_context io;
  std::vector<Message> received;
  std::vector<Peer> from;
  std::vector<Peer> closed;
  WsTransport transport;
  uint16_t port = 0;

  explicit WsHarness(WsOptions o)
      : transport(
            io,
            [this](Message m, const Peer& p) {
              received.push_back(std::move(m));
              from.push_back(p);
            },
            [this](const Peer& p) { closed.push_back(p); }, std::move(o)) {
    port = transport.listen("127.0.0.1:0").value().port();
  }
  template <typename Pred>
  bool run_until(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(std::chrono::milliseconds(10));
    }
    return done();
  }
  // Runs the loop until the client's work is done, and returns its result.
  template <typename T>
  T drive(std::future<T>& f) {
    run_until([&] { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
    return f.get();
  }
};

// The upgrade a client asks for; the status the server answered (101: upgraded) and the stream.
template <class Stream>
int upgrade(websocket::stream<Stream>& ws, uint16_t port, const std::string& protocol,
            const std::string& origin) {
  ws.set_option(websocket::stream_base::decorator([=](websocket::request_type& r) {
    if (!protocol.empty()) r.set(http::field::sec_websocket_protocol, protocol);
    if (!origin.empty()) r.set(http::field::origin, origin);
  }));
  websocket::response_type res;
  beast::error_code ec;
  ws.handshake(res, "127.0.0.1:" + std::to_string(port), "/", ec);
  return static_cast<int>(res.result_int());
}

// The status of an upgrade request as raw HTTP (Beast's client does not keep the answer to an
// upgrade it declines): what a browser would see.
int raw_upgrade(uint16_t port, const std::string& protocol, const std::string& origin,
                bool websocket = true) {
  asio::io_context io;
  beast::tcp_stream s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> req{http::verb::get, "/", 11};
  req.set(http::field::host, "127.0.0.1");
  if (websocket) {
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(http::field::sec_websocket_version, "13");
  }
  if (!protocol.empty()) req.set(http::field::sec_websocket_protocol, protocol);
  if (!origin.empty()) req.set(http::field::origin, origin);
  http::write(s, req);
  beast::flat_buffer b;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(s, b, res, ec);
  return ec ? 0 : static_cast<int>(res.result_int());
}

WsOptions browser_options() {
  WsOptions o;
  o.allowed_origins = {"https://portal.example.com:8443"};
  return o;
}

TEST(WsTransport, ABrowserUpgradesWithTheSipSubprotocolAndMessagesFlowBothWays) {
  WsHarness h(browser_options());
  asio::io_context client_io;
  websocket::stream<beast::tcp_stream> ws(client_io);
  auto step = std::async(std::launch::async, [&] {
    ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), h.port));
    const int status = upgrade(ws, h.port, "sip", "https://portal.example.com:8443");
    if (status == 101) ws.write(asio::buffer(register_request("z9hG4bK-ws1")));
    return status;
  });
  ASSERT_EQ(h.drive(step), 101);
  ASSERT_TRUE(h.run_until([&] { return h.received.size() == 1; }));
  const Message& m = h.received[0];
  EXPECT_EQ(m.method(), "REGISTER");
  EXPECT_EQ(h.from[0].transport, "WS");
  EXPECT_EQ(h.from[0].address, "127.0.0.1");
  EXPECT_NE(m.find("Via")->value.find("received=127.0.0.1"), std::string_view::npos)
      << "the browser's made-up Via host is stamped with where it really is";
  EXPECT_EQ(h.transport.stats().accepted, 1u);

  // The answer (and any request to the browser) goes back on its connection, as one message.
  auto response = Message::parse("SIP/2.0 200 OK\r\nVia: " + std::string(m.find("Via")->value) +
                                 "\r\nFrom: <sip:alice@contoso.com>;tag=1\r\n"
                                 "To: <sip:alice@contoso.com>;tag=2\r\nCall-ID: x\r\n"
                                 "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
                      .value();
  h.transport.send(response, h.from[0]);
  auto read = std::async(std::launch::async, [&] {
    beast::flat_buffer b;
    ws.read(b);
    return std::make_pair(beast::buffers_to_string(b.data()), ws.got_text());
  });
  const auto [text, was_text] = h.drive(read);
  EXPECT_EQ(text.substr(0, 15), "SIP/2.0 200 OK\r");
  EXPECT_TRUE(was_text);

  // A message for a peer without a connection is not sent anywhere else.
  h.transport.send(response, Peer{"WS", "127.0.0.1", 1});
  EXPECT_EQ(h.transport.stats().no_connection, 1u);

  // A keep-alive is answered; something that is not SIP closes the connection, and its
  // closing is reported once.
  auto ping = std::async(std::launch::async, [&] {
    ws.write(asio::buffer(std::string("\r\n\r\n")));
    beast::flat_buffer b;
    ws.read(b);
    const std::string pong = beast::buffers_to_string(b.data());
    ws.write(asio::buffer(std::string("this is not SIP\r\n\r\n")));
    beast::error_code ec;
    ws.read(b, ec);
    return pong + (ec ? "closed" : "open");
  });
  EXPECT_EQ(h.drive(ping), "\r\nclosed");
  ASSERT_TRUE(h.run_until([&] { return h.closed.size() == 1; }));
  EXPECT_EQ(h.closed[0].port, h.from[0].port);
  EXPECT_EQ(h.transport.stats().closed_framing, 1u);
  EXPECT_EQ(h.transport.connections(), 0u);
}

TEST(WsTransport, AForeignOriginOrAMissingSubprotocolOrPlainHttpIsRefused) {
  WsHarness h(browser_options());
  auto foreign = std::async(std::launch::async,
                            [&] { return raw_upgrade(h.port, "sip", "https://evil.test"); });
  EXPECT_EQ(h.drive(foreign), 403) << "a page elsewhere cannot use the user's browser";
  auto no_sip = std::async(std::launch::async, [&] {
    return raw_upgrade(h.port, "chat", "https://portal.example.com:8443");
  });
  EXPECT_EQ(h.drive(no_sip), 400);
  auto native = std::async(std::launch::async, [&] { return raw_upgrade(h.port, "sip", ""); });
  EXPECT_EQ(h.drive(native), 101) << "a client without Origin is not a browser";
  auto plain = std::async(std::launch::async,
                          [&] { return raw_upgrade(h.port, "", "", /*websocket=*/false); });
  EXPECT_EQ(h.drive(plain), 426);
  EXPECT_EQ(h.transport.stats().refused_origin, 1u);
  EXPECT_EQ(h.transport.stats().refused_upgrade, 2u);
  EXPECT_TRUE(h.received.empty());
}

TEST(WsTransport, AnUpgradeThatStallsIsCutAndPerAddressLimitsHold) {
  WsOptions o = browser_options();
  o.tcp.message_timeout = std::chrono::milliseconds(200);
  o.tcp.max_per_ip = 2;
  WsHarness h(o);
  asio::io_context client_io;
  std::vector<tcp::socket> sockets;
  for (int i = 0; i < 3; ++i) {
    sockets.emplace_back(client_io);
    sockets.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), h.port));
  }
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().refused_limit == 1; }));
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().closed_handshake == 2; }))
      << "connections that never upgrade are closed after message_timeout";
  EXPECT_EQ(h.transport.connections(), 0u);
  EXPECT_TRUE(h.closed.empty()) << "only upgraded connections were flows anyone could use";
}

TEST(WsTransport, SecureWebSocketCarriesSipAndAPlainClientIsCut) {
  const auto [key_pem, cert_pem] = self_signed();
  auto server_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  server_ctx->use_certificate_chain(asio::buffer(cert_pem));
  server_ctx->use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
  WsOptions o = browser_options();
  o.tcp.tls = server_ctx;
  o.tcp.message_timeout = std::chrono::milliseconds(500);
  WsHarness h(o);
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  client_ctx.add_certificate_authority(asio::buffer(cert_pem));
  client_ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::io_context client_io;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(client_io, client_ctx);
  auto step = std::async(std::launch::async, [&] {
    beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), h.port));
    ws.next_layer().handshake(asio::ssl::stream_base::client);
    const int status = upgrade(ws, h.port, "sip", "https://portal.example.com:8443");
    if (status == 101) ws.write(asio::buffer(register_request("z9hG4bK-wss1")));
    return status;
  });
  ASSERT_EQ(h.drive(step), 101);
  ASSERT_TRUE(h.run_until([&] { return h.received.size() == 1; }));
  EXPECT_EQ(h.from[0].transport, "WSS");
  EXPECT_TRUE(h.from[0].secure());

  // A client that speaks WebSocket without TLS to the wss port gets nowhere.
  auto plain = std::async(std::launch::async, [&] {
    asio::io_context io2;
    websocket::stream<beast::tcp_stream> p(io2);
    p.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), h.port));
    return upgrade(p, h.port, "sip", "");
  });
  EXPECT_NE(h.drive(plain), 101);
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().closed_handshake == 1; }));
  EXPECT_EQ(h.received.size(), 1u);
}

}  // namespace
}  // namespace verbatim::sip
