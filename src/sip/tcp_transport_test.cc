#include "sip/tcp_transport.h"
#include "sip/test_certificates.h"

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <thread>

namespace verbatim::sip {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string options_request(const std::string& branch, const std::string& extra = "") {
  return "OPTIONS sip:uas@127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=" +
         branch +
         "\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:uas@127.0.0.1>\r\n"
         "Call-ID: " +
         branch + "@x\r\nCSeq: 1 OPTIONS\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

struct TcpHarness {
  asio::io_context io;
  std::vector<Message> received;
  std::vector<Peer> from;
  TcpTransport transport;
  uint16_t port = 0;

  explicit TcpHarness(TcpOptions o = {})
      : transport(
            io,
            [this](Message m, const Peer& p) {
              received.push_back(std::move(m));
              from.push_back(p);
            },
            o) {
    port = transport.listen("127.0.0.1:0").value().port();
  }
  tcp::socket connect() {
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    return s;
  }
  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
  // Runs the loop until `done` holds (bounded: 10 s, for slow sanitizer builds); never
  // asserts on elapsed time.
  template <typename Pred>
  bool run_until(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      run_for(std::chrono::milliseconds(10));
    return done();
  }
  // Whether the server closed `s` (a read returns EOF or an error).
  bool closed_by_server(tcp::socket& s) {
    s.non_blocking(true);
    for (int i = 0; i < 200; ++i) {  // up to 2 s for the FIN to arrive
      char c[512];
      boost::system::error_code ec;
      s.read_some(asio::buffer(c), ec);
      if (!ec) continue;  // bytes before the close (a TLS alert, say): keep reading
      if (ec != asio::error::would_block) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

TEST(TcpTransport, FramesByContentLengthAcrossSegmentsAndAnswersOnTheSameConnection) {
  TcpHarness h;
  auto s = h.connect();
  // Two messages in one segment, then one split across three writes, with a body.
  asio::write(s, asio::buffer(options_request("z9hG4bK1") + options_request("z9hG4bK2")));
  const std::string body_msg =
      "MESSAGE sip:uas@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK3\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:uas@127.0.0.1>\r\n"
      "Call-ID: m@x\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n"
      "hello world";
  ASSERT_TRUE(h.run_until([&] { return h.received.size() == 2; }));
  for (size_t at : {size_t{0}, size_t{40}, body_msg.size() - 5}) {
    const size_t next = at == 0 ? 40 : at == 40 ? body_msg.size() - 5 : body_msg.size();
    asio::write(s, asio::buffer(body_msg.substr(at, next - at)));
    h.run_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(h.run_until([&] { return h.received.size() == 3; }));
  EXPECT_EQ(h.received[2].body(), "hello world");
  EXPECT_EQ(h.from[0].transport, "TCP");
  // The response goes back on the connection the request came in on.
  h.transport.send(make_response(h.received[0], 200, "OK"), h.from[0]);
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().sent == 1; }));
  std::array<char, 4096> buf{};
  boost::system::error_code ec;
  const size_t n = s.read_some(asio::buffer(buf), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf.data(), n).substr(0, 15), "SIP/2.0 200 OK\r");
  EXPECT_EQ(h.transport.connections(), 1u);
}

TEST(TcpTransport, ABrokenFrameClosesTheConnectionAnInvalidMessageGets400) {
  TcpHarness h;
  auto bad_grammar = h.connect();
  asio::write(bad_grammar, asio::buffer(options_request("z9hG4bK4", "Expires: lots\r\n")));
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().sent == 1; }));
  std::array<char, 4096> buf{};
  const size_t n = bad_grammar.read_some(asio::buffer(buf));
  EXPECT_EQ(std::string(buf.data(), n).substr(0, 11), "SIP/2.0 400");
  EXPECT_FALSE(h.closed_by_server(bad_grammar)) << "framing intact: the connection stays";
  auto bad_frame = h.connect();
  asio::write(bad_frame,
              asio::buffer(std::string("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n")));
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().closed_framing == 1; }));
  EXPECT_TRUE(h.closed_by_server(bad_frame));
  EXPECT_TRUE(h.received.empty());
}

// T34: slow-loris connections are cut, per-IP caps hold, and a real client still gets through.
TEST(TcpTransport, SlowAndIdleConnectionsAreClosedAndPerIpCapsHold) {
  TcpOptions o;
  o.max_per_ip = 8;
  o.message_timeout = std::chrono::milliseconds(1500);
  TcpHarness h(o);
  std::vector<tcp::socket> slow;
  for (int i = 0; i < 8; ++i) {
    slow.push_back(h.connect());
    asio::write(slow.back(),
                asio::buffer(std::string("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP x")));
  }
  ASSERT_TRUE(h.run_until([&] { return h.transport.connections() == 8; }));
  auto extra = h.connect();  // the ninth from this address
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().refused_limit == 1; }));
  EXPECT_TRUE(h.closed_by_server(extra));
  ASSERT_TRUE(h.run_until([&] { return h.transport.stats().closed_timeout == 8; }))
      << "slow senders are cut after message_timeout";
  for (auto& s : slow) EXPECT_TRUE(h.closed_by_server(s));
  EXPECT_EQ(h.transport.connections(), 0u);
  auto legit = h.connect();
  asio::write(legit, asio::buffer(options_request("z9hG4bK5")));
  EXPECT_TRUE(h.run_until([&] { return h.received.size() == 1; }));
}

// T34 from many addresses: at capacity, the oldest connection that never sent a valid message
// makes room, so idle connections cannot lock a real peer out; peers that did talk stay.
TEST(TcpTransport, AtCapacityTheOldestSilentConnectionMakesRoom) {
  TcpOptions o;
  o.max_connections = 8;
  TcpHarness h(o);
  auto talker = h.connect();
  asio::write(talker, asio::buffer(options_request("z9hG4bK-t")));
  ASSERT_TRUE(h.run_until([&] { return h.received.size() == 1; }));
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 7; ++i) idle.push_back(h.connect());
  ASSERT_TRUE(h.run_until([&] { return h.transport.connections() == 8; }));
  auto legit = h.connect();
  asio::write(legit, asio::buffer(options_request("z9hG4bK-l")));
  ASSERT_TRUE(h.run_until([&] { return h.received.size() == 2; }));
  EXPECT_EQ(h.transport.stats().evicted, 1u);
  EXPECT_EQ(h.transport.stats().refused_limit, 0u);
  EXPECT_TRUE(h.closed_by_server(idle.front())) << "the oldest silent connection went";
  asio::write(talker, asio::buffer(options_request("z9hG4bK-t2")));
  EXPECT_TRUE(h.run_until([&] { return h.received.size() == 3; })) << "the talker stayed";
  EXPECT_EQ(h.transport.connections(), 8u);
}

TEST(TcpTransport, RequestsToAPeerReuseOneConnection) {
  TcpHarness server;
  asio::io_context& io = server.io;
  std::vector<Message> got;
  TcpTransport client(io, [&](Message m, const Peer&) { got.push_back(std::move(m)); });
  ASSERT_TRUE(client.listen("127.0.0.1:0"));
  const Peer to{"TCP", "127.0.0.1", server.port};
  for (int i = 0; i < 3; ++i) {
    client.send(Message::parse(options_request("z9hG4bK-r" + std::to_string(i))).value(), to);
    ASSERT_TRUE(
        server.run_until([&] { return server.received.size() == static_cast<size_t>(i + 1); }));
  }
  EXPECT_EQ(client.connections(), 1u);
  EXPECT_EQ(server.transport.stats().accepted, 1u);
  // The server answers over the client's connection; the client receives it.
  server.transport.send(make_response(server.received[2], 200, "OK"), server.from[2]);
  ASSERT_TRUE(server.run_until([&] { return got.size() == 1; }));
  EXPECT_EQ(got[0].status(), 200);
}

// The connected TCP sockets of this process with `port` at either end, each with whether
// TCP_NODELAY is set.
std::vector<bool> no_delay_of_connections_on(uint16_t port) {
  std::vector<bool> out;
  for (int fd = 0; fd < 4096; ++fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    sockaddr_in local{}, remote{};
    socklen_t ll = sizeof local, rl = sizeof remote;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &rl) != 0 ||
        local.sin_family != AF_INET)
      continue;
    if (ntohs(local.sin_port) != port && ntohs(remote.sin_port) != port) continue;
    int flag = 0;
    len = sizeof flag;
    ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &flag, &len);
    out.push_back(flag != 0);
  }
  return out;
}

TEST(TcpTransport, ConnectionsBothWaysSendAtOnce) {
  // Without TCP_NODELAY a response written right after another (a 200 after a 100 Trying)
  // waits for the peer's delayed ACK: ~40 ms added to every transaction over TCP and TLS.
  TcpHarness server;
  TcpTransport client(server.io, [](Message, const Peer&) {});
  ASSERT_TRUE(client.listen("127.0.0.1:0"));
  client.send(Message::parse(options_request("z9hG4bK-nd")).value(),
              Peer{"TCP", "127.0.0.1", server.port});
  ASSERT_TRUE(server.run_until([&] { return server.received.size() == 1; }));
  const auto ends = no_delay_of_connections_on(server.port);
  ASSERT_EQ(ends.size(), 2u);  // the one we opened and the one we accepted
  EXPECT_TRUE(ends[0]);
  EXPECT_TRUE(ends[1]);
}

}  // namespace
}  // namespace verbatim::sip

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl.hpp>

namespace verbatim::sip {
namespace {

TEST(TlsTransport, MessagesFlowOverTlsAndAPlainTextOrStalledPeerIsCut) {
  const auto [key_pem, cert_pem] = self_signed();
  auto server_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  server_ctx->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  server_ctx->use_certificate_chain(asio::buffer(cert_pem));
  server_ctx->use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
  TcpOptions so;
  so.tls = server_ctx;
  so.message_timeout = std::chrono::milliseconds(1500);
  TcpHarness server(so);

  // A client on the same stack, verifying the server against the certificate it trusts.
  auto client_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  client_ctx->add_certificate_authority(asio::buffer(cert_pem));
  client_ctx->set_verify_mode(asio::ssl::verify_peer);
  TcpOptions co;
  co.tls = client_ctx;
  std::vector<Message> got;
  TcpTransport client(
      server.io, [&](Message m, const Peer&) { got.push_back(std::move(m)); }, co);
  const Peer to{"TLS", "127.0.0.1", server.port};
  client.send(Message::parse(options_request("z9hG4bK-tls1")).value(), to);
  client.send(Message::parse(options_request("z9hG4bK-tls2")).value(), to);
  ASSERT_TRUE(server.run_until([&] { return server.received.size() == 2; }));
  EXPECT_EQ(server.from[0].transport, "TLS");
  server.transport.send(make_response(server.received[1], 200, "OK"), server.from[1]);
  ASSERT_TRUE(server.run_until([&] { return got.size() == 1; }));
  EXPECT_EQ(got[0].status(), 200);

  // Plain text to the TLS port: the handshake fails, the connection is closed and counted.
  auto plain = server.connect();
  asio::write(plain, asio::buffer(options_request("z9hG4bK-plain")));
  ASSERT_TRUE(server.run_until([&] { return server.transport.stats().closed_tls == 1; }));
  EXPECT_TRUE(server.closed_by_server(plain));
  // A peer that connects and never starts the handshake is cut by the message timeout.
  auto stalled = server.connect();
  ASSERT_TRUE(server.run_until([&] { return server.transport.stats().closed_timeout == 1; }));
  EXPECT_TRUE(server.closed_by_server(stalled));
  // A client that does not trust the server's certificate does not talk to it.
  auto untrusting_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  untrusting_ctx->set_verify_mode(asio::ssl::verify_peer);
  TcpOptions uo;
  uo.tls = untrusting_ctx;
  TcpTransport untrusting(
      server.io, [](Message, const Peer&) {}, uo);
  untrusting.send(Message::parse(options_request("z9hG4bK-untrusted")).value(), to);
  ASSERT_TRUE(server.run_until([&] { return untrusting.stats().closed_tls == 1; }));
  EXPECT_EQ(server.received.size(), 2u);
  // A client that trusts the CA but asked for another name does not talk to it either.
  TcpTransport misnamed(
      server.io, [](Message, const Peer&) {}, co);
  misnamed.send(Message::parse(options_request("z9hG4bK-misnamed")).value(),
                Peer{"TLS", "127.0.0.1", server.port, "rec-dr.contoso.com"});
  ASSERT_TRUE(server.run_until([&] { return misnamed.stats().closed_tls == 1; }));
  EXPECT_EQ(server.received.size(), 2u);
}

// Mutual TLS: a server that requires client certificates refuses a client without one, and a
// client whose certificate verifies is known by the name in it (Peer::tls_name).
TEST(TlsTransport, MutualTlsNamesTheClientAndRefusesOneWithoutACertificate) {
  const auto [server_key, server_cert] = self_signed("srs.test");
  const auto [client_key, client_cert] = self_signed("gateway.test");
  auto server_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  server_ctx->use_certificate_chain(asio::buffer(server_cert));
  server_ctx->use_private_key(asio::buffer(server_key), asio::ssl::context::pem);
  server_ctx->add_certificate_authority(asio::buffer(client_cert));
  server_ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  TcpOptions so;
  so.tls = server_ctx;
  TcpHarness server(so);
  const Peer to{"TLS", "127.0.0.1", server.port, "srs.test"};
  auto anonymous_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  anonymous_ctx->add_certificate_authority(asio::buffer(server_cert));
  TcpOptions ao;
  ao.tls = anonymous_ctx;
  TcpTransport anonymous(
      server.io, [](Message, const Peer&) {}, ao);
  anonymous.send(Message::parse(options_request("z9hG4bK-anon")).value(), to);
  ASSERT_TRUE(server.run_until([&] { return server.transport.stats().closed_tls == 1; }));
  EXPECT_TRUE(server.received.empty());
  auto client_ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  client_ctx->add_certificate_authority(asio::buffer(server_cert));
  client_ctx->use_certificate_chain(asio::buffer(client_cert));
  client_ctx->use_private_key(asio::buffer(client_key), asio::ssl::context::pem);
  TcpOptions co;
  co.tls = client_ctx;
  TcpTransport client(
      server.io, [](Message, const Peer&) {}, co);
  client.send(Message::parse(options_request("z9hG4bK-mtls")).value(), to);
  ASSERT_TRUE(server.run_until([&] { return server.received.size() == 1; }));
  EXPECT_EQ(server.from[0].tls_name, "gateway.test");
}

}  // namespace
}  // namespace verbatim::sip

namespace verbatim::sip {
namespace {

// UDP over IPv6 loopback: a request gets received=[::1] and rport stamped on its top Via and
// is answered back to its source port; a listen address that is not one is refused.
TEST(UdpTransport, Ipv6LoopbackWithReceivedAndRport) {
  asio::io_context io;
  std::vector<Message> got;
  std::vector<Peer> from;
  UdpTransport server(io, [&](Message m, const Peer& p) {
    got.push_back(std::move(m));
    from.push_back(p);
  });
  auto ep = server.listen("[::1]:0");
  ASSERT_TRUE(ep) << ep.error().message;
  asio::ip::udp::socket client(io, asio::ip::udp::endpoint(asio::ip::make_address("::1"), 0));
  const std::string req =
      "OPTIONS sip:srs@[::1] SIP/2.0\r\nVia: SIP/2.0/UDP "
      "[2001:db8::1]:5060;branch=z9hG4bK-v6;rport\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:srs@[::1]>\r\n"
      "Call-ID: v6@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  client.send_to(asio::buffer(req), ep.value());
  for (int i = 0; i < 500 && got.empty(); ++i) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(got.size(), 1u);
  const Via top = got[0].vias().value().front();
  EXPECT_EQ(top.param("received").value(), "[::1]");
  EXPECT_EQ(top.param("rport").value(), std::to_string(client.local_endpoint().port()));
  server.send(make_response(got[0], 200, "OK"), from[0]);
  std::array<char, 2048> buf{};
  asio::ip::udp::endpoint sender;
  const size_t n = client.receive_from(asio::buffer(buf), sender);
  EXPECT_EQ(std::string(buf.data(), n).substr(0, 14), "SIP/2.0 200 OK");
  for (const char* bad : {"::1", "[::1]:70000", "example.com:5060", "127.0.0.1:x"}) {
    UdpTransport t(io, [](Message, const Peer&) {});
    EXPECT_FALSE(t.listen(bad)) << bad;
  }
}

}  // namespace
}  // namespace verbatim::sip
