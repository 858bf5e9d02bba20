#include <sys/socket.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "gateway/registrar.h"
#include "gateway/relay.h"
#include "sip/digest.h"

namespace verbatim::gateway {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

// --- registrar -------------------------------------------------------------------------------

class RegistrarTest : public ::testing::Test {
 protected:
  RegistrarTest()
      : registrar({},
                  [this](std::string_view user, std::string_view realm,
                         sip::DigestAlgorithm a) -> std::optional<std::string> {
                    ++lookups;
                    if (realm != "contoso.com" || (user != "alice" && user != "bob"))
                      return std::nullopt;
                    return sip::digest_ha1(a, user, realm, user == "alice" ? "alice-pw" : "bob-pw");
                  }) {}

  sip::Message request(const std::string& method, const std::string& aor,
                       const std::string& extra = "", const std::string& contact = "", int cseq = 1,
                       const std::string& call_id = "reg-1") {
    std::string text = method +
                       " sip:contoso.com SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" +
                       std::to_string(cseq) +
                       "\r\n"
                       "From: <" +
                       aor +
                       ">;tag=f1\r\n"
                       "To: <" +
                       aor +
                       ">\r\n"
                       "Call-ID: " +
                       call_id +
                       "\r\n"
                       "CSeq: " +
                       std::to_string(cseq) + " " + method +
                       "\r\n"
                       "Max-Forwards: 70\r\n";
    if (!contact.empty()) text += "Contact: " + contact + "\r\n";
    text += extra + "Content-Length: 0\r\n\r\n";
    auto m = sip::Message::parse(text);
    EXPECT_TRUE(m) << text;
    return std::move(m).value();
  }

  // The Authorization answering the first challenge of `r` as `user`/`password`.
  std::string answer(const Registrar::Reply& r, const std::string& method, const std::string& user,
                     const std::string& password) {
    EXPECT_EQ(r.status, 401);
    EXPECT_FALSE(r.headers.empty());
    auto a = sip::digest_authorize(r.headers.at(0).second, method, "sip:contoso.com", user,
                                   password, "c0ffee", 1);
    EXPECT_TRUE(a);
    return "Authorization: " + a.value() + "\r\n";
  }

  Registrar::Reply register_as(const std::string& aor, const std::string& user,
                               const std::string& password, const std::string& contact,
                               const std::string& extra = "", int cseq = 2) {
    auto first = registrar.on_register(request("REGISTER", aor, extra, contact, cseq - 1), peer);
    return registrar.on_register(
        request("REGISTER", aor, extra + answer(first, "REGISTER", user, password), contact, cseq),
        peer);
  }

  int lookups = 0;
  Registrar registrar;
  sip::Peer peer{"UDP", "192.0.2.10", 5062};
};

TEST_F(RegistrarTest, RegistersWithDigestAndListsBindings) {
  auto challenge = registrar.on_register(
      request("REGISTER", "sip:alice@contoso.com", "", "<sip:alice@192.0.2.10:5062>"), peer);
  ASSERT_EQ(challenge.status, 401);
  ASSERT_EQ(challenge.headers.size(), 2u);  // SHA-256 first, then MD5 (RFC 8760)
  EXPECT_NE(challenge.headers[0].second.find("algorithm=SHA-256"), std::string::npos);
  EXPECT_NE(challenge.headers[0].second.find("realm=\"contoso.com\""), std::string::npos);
  auto ok = register_as("sip:alice@contoso.com", "alice", "alice-pw",
                        "<sip:alice@192.0.2.10:5062>;expires=600");
  ASSERT_EQ(ok.status, 200) << ok.reason;
  ASSERT_EQ(ok.headers.size(), 1u);
  EXPECT_EQ(ok.headers[0].second, "<sip:alice@192.0.2.10:5062>;expires=600");
  auto b = registrar.bindings("alice@contoso.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].source.port, 5062);
  EXPECT_EQ(b[0].contact, "sip:alice@192.0.2.10:5062");
  // Expires above the maximum is capped; 0 removes.
  ok = register_as("sip:alice@contoso.com", "alice", "alice-pw", "<sip:alice@192.0.2.10:5062>",
                   "Expires: 999999\r\n", 4);
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers[0].second, "<sip:alice@192.0.2.10:5062>;expires=7200");
  ok = register_as("sip:alice@contoso.com", "alice", "alice-pw", "*", "Expires: 0\r\n", 6);
  ASSERT_EQ(ok.status, 200);
  EXPECT_TRUE(ok.headers.empty());
  EXPECT_TRUE(registrar.bindings("alice@contoso.com").empty());
}

TEST_F(RegistrarTest, RefusesWhatARegistrarMust) {
  // Too brief: 423 with Min-Expires.
  auto r = register_as("sip:alice@contoso.com", "alice", "alice-pw",
                       "<sip:alice@192.0.2.10:5062>;expires=10");
  EXPECT_EQ(r.status, 423);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Min-Expires", "60"}));
  // Wrong password: challenged again; an unknown user gets exactly the same.
  r = register_as("sip:alice@contoso.com", "alice", "wrong", "<sip:alice@192.0.2.10:5062>");
  EXPECT_EQ(r.status, 401);
  auto unknown = register_as("sip:mallory@contoso.com", "mallory", "x", "<sip:m@192.0.2.10>");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.headers.size(), r.headers.size());
  // Bob's credentials never register Alice's address.
  r = register_as("sip:alice@contoso.com", "bob", "bob-pw", "<sip:bob@192.0.2.10:5062>");
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(registrar.bindings("alice@contoso.com").empty());
  // Contact: * without Expires: 0 is malformed.
  r = register_as("sip:alice@contoso.com", "alice", "alice-pw", "*");
  EXPECT_EQ(r.status, 400);
}

TEST_F(RegistrarTest, BruteForceIsBlockedPerSource) {
  int blocked_at = 0;
  const std::string contact = "<sip:alice@192.0.2.10:5062>";
  for (int i = 1; i <= 30 && !blocked_at; ++i) {
    auto first = registrar.on_register(
        request("REGISTER", "sip:alice@contoso.com", "", contact, 2 * i - 1), peer);
    if (first.status == 403) {
      blocked_at = i;
      break;
    }
    auto r = registrar.on_register(
        request("REGISTER", "sip:alice@contoso.com",
                answer(first, "REGISTER", "alice", "guess" + std::to_string(i)), contact, 2 * i),
        peer);
    EXPECT_EQ(r.status, 401);
  }
  EXPECT_EQ(blocked_at, 21);  // 20 failures allowed, then refused without verification
  const int before = lookups;
  auto r =
      registrar.on_register(request("REGISTER", "sip:alice@contoso.com",
                                    "Authorization: Digest username=\"alice\"\r\n", contact, 100),
                            peer);
  EXPECT_EQ(r.status, 403);  // not even looked at, from that source
  EXPECT_EQ(lookups, before);
  sip::Peer other{"UDP", "192.0.2.11", 5060};
  auto first = registrar.on_register(
      request("REGISTER", "sip:alice@contoso.com", "", "<sip:alice@192.0.2.11>", 1, "o"), other);
  auto ok = registrar.on_register(
      request("REGISTER", "sip:alice@contoso.com", answer(first, "REGISTER", "alice", "alice-pw"),
              "<sip:alice@192.0.2.11>", 2, "o"),
      other);
  EXPECT_EQ(ok.status, 200);
}

TEST_F(RegistrarTest, AuthenticatesCallsByTheirFromAddress) {
  auto first = registrar.authenticate(request("INVITE", "sip:alice@contoso.com"), peer);
  ASSERT_FALSE(first.ok());
  auto ok =
      registrar.authenticate(request("INVITE", "sip:alice@contoso.com",
                                     answer(first.reply, "INVITE", "alice", "alice-pw"), "", 2),
                             peer);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.identity, "alice@contoso.com");
  // Bob's credentials in a call From Alice: refused.
  first = registrar.authenticate(request("INVITE", "sip:alice@contoso.com"), peer);
  auto spoof =
      registrar.authenticate(request("INVITE", "sip:alice@contoso.com",
                                     answer(first.reply, "INVITE", "bob", "bob-pw"), "", 3),
                             peer);
  EXPECT_FALSE(spoof.ok());
  EXPECT_EQ(spoof.reply.status, 403);
}

// --- relay -----------------------------------------------------------------------------------

class RelayTest : public ::testing::Test {
 protected:
  udp::socket bind(const char* address) {
    udp::socket s(io, udp::endpoint(asio::ip::make_address(address), 0));
    timeval tv{0, 200000};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
  }
  // Runs the relay's loop briefly, then reads what `s` got.
  std::vector<std::string> received(udp::socket& s) {
    io.restart();
    io.run_for(std::chrono::milliseconds(100));
    std::vector<std::string> out;
    std::array<char, 2048> buf;
    boost::system::error_code ec;
    s.non_blocking(true);
    for (;;) {
      const size_t n = s.receive(asio::buffer(buf), 0, ec);
      if (ec) break;
      out.emplace_back(buf.data(), n);
    }
    return out;
  }
  asio::io_context io;
};

TEST_F(RelayTest, ForwardsBothWaysLatchesDropsForeignAndTaps) {
  // Three free even ports (RTP; RTCP on the odd one above).
  uint16_t pa = 0, pb = 0, pt = 0;
  for (uint16_t p = 41000; p < 41200 && !pt; p += 2) {
    udp::socket probe(io);
    boost::system::error_code ec;
    probe.open(udp::v4());
    probe.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), p), ec);
    if (ec) continue;
    probe.close();
    (!pa ? pa : !pb ? pb : pt) = p;
  }
  auto relay = RelayStream::open(io, asio::ip::make_address("127.0.0.1"), pa, pb);
  ASSERT_TRUE(relay) << relay.error().message;
  auto r = relay.value();
  udp::socket a = bind("127.0.0.1"), b = bind("127.0.0.1"), rec = bind("127.0.0.1");
  udp::socket foreign = bind("127.0.0.2");
  r->set_remote(Side::kA, a.local_endpoint());
  r->set_remote(Side::kB, b.local_endpoint());
  auto tap = TapPorts::open(io, asio::ip::make_address("127.0.0.1"), pt);
  ASSERT_TRUE(tap);
  const udp::endpoint to_a(asio::ip::make_address("127.0.0.1"), pa);
  const udp::endpoint to_b(asio::ip::make_address("127.0.0.1"), pb);
  a.send_to(asio::buffer(std::string("from-a-1")), to_a);
  EXPECT_EQ(received(b), std::vector<std::string>{"from-a-1"});
  // A tap on what A sends: the recorder gets copies from then on, the call is untouched.
  const uint64_t t = r->add_tap(Side::kA, tap.value(), rec.local_endpoint());
  a.send_to(asio::buffer(std::string("from-a-2")), to_a);
  b.send_to(asio::buffer(std::string("from-b-1")), to_b);
  EXPECT_EQ(received(b), std::vector<std::string>{"from-a-2"});
  EXPECT_EQ(received(a), std::vector<std::string>{"from-b-1"});
  EXPECT_EQ(received(rec), std::vector<std::string>{"from-a-2"});
  // Another host, or another port of A's host once latched: dropped and counted.
  foreign.send_to(asio::buffer(std::string("bleed")), to_a);
  udp::socket a2 = bind("127.0.0.1");
  a2.send_to(asio::buffer(std::string("hijack")), to_a);
  EXPECT_TRUE(received(b).empty());
  EXPECT_EQ(r->counters().foreign[0], 2u);
  r->remove_tap(t);
  a.send_to(asio::buffer(std::string("from-a-3")), to_a);
  EXPECT_EQ(received(b), std::vector<std::string>{"from-a-3"});
  EXPECT_TRUE(received(rec).empty());
  EXPECT_EQ(r->counters().received[0], 3u);
  EXPECT_EQ(r->counters().tapped, 1u);
  r->close();
  tap.value()->close();
}

TEST_F(RelayTest, SrtpIsDecryptedOnOneSideReEncryptedOnTheOtherAndForgeriesDropped) {
  uint16_t ports[3] = {0, 0, 0};
  int found = 0;
  for (uint16_t p = 41400; p < 41600 && found < 3; p += 2) {
    udp::socket probe(io);
    boost::system::error_code ec;
    probe.open(udp::v4());
    probe.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), p), ec);
    if (!ec) ports[found++] = p;
  }
  ASSERT_EQ(found, 3);
  auto relay = RelayStream::open(io, asio::ip::make_address("127.0.0.1"), ports[0], ports[1]);
  ASSERT_TRUE(relay);
  auto r = relay.value();
  auto new_key = [] {
    const std::string k = media::new_sdes_inline("AES_CM_128_HMAC_SHA1_80");
    return media::parse_sdes_key("AES_CM_128_HMAC_SHA1_80", k).value();
  };
  const media::SdesKey caller = new_key(), to_caller = new_key(), callee = new_key(),
                       to_callee = new_key(), forger = new_key();
  ASSERT_TRUE(r->set_srtp(Side::kA, caller, to_caller));
  ASSERT_TRUE(r->set_srtp(Side::kB, callee, to_callee));
  udp::socket a = bind("127.0.0.1"), b = bind("127.0.0.1"), rec = bind("127.0.0.1");
  r->set_remote(Side::kA, a.local_endpoint());
  r->set_remote(Side::kB, b.local_endpoint());
  auto tap = TapPorts::open(io, asio::ip::make_address("127.0.0.1"), ports[2]);
  ASSERT_TRUE(tap);
  r->add_tap(Side::kA, tap.value(), rec.local_endpoint());
  auto rtp = [](uint16_t seq) {
    std::vector<uint8_t> p = {
        0x80, 0x08, static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq), 0, 0, 0, 160, 1, 2,
        3,    4};
    for (int i = 0; i < 160; ++i) p.push_back(static_cast<uint8_t>(i));
    return p;
  };
  auto sender = media::SrtpSender::create(caller).value();
  auto forged = media::SrtpSender::create(forger).value();
  const udp::endpoint to_a(asio::ip::make_address("127.0.0.1"), ports[0]);
  // A forgery from the caller's host (another key): dropped, and it does not latch.
  auto f = rtp(1);
  ASSERT_TRUE(forged->protect(f, false));
  udp::socket a2 = bind("127.0.0.1");
  a2.send_to(asio::buffer(f), to_a);
  EXPECT_TRUE(received(b).empty());
  EXPECT_EQ(r->counters().srtp_failed[0], 1u);
  // The real one: the callee gets it encrypted with the key we gave it, the recorder in clear.
  auto p = rtp(2);
  const auto plain = p;
  ASSERT_TRUE(sender->protect(p, false));
  a.send_to(asio::buffer(p), to_a);
  auto at_b = received(b);
  ASSERT_EQ(at_b.size(), 1u);
  std::vector<uint8_t> got(at_b[0].begin(), at_b[0].end());
  EXPECT_NE(got, p);  // re-encrypted with the callee's key, not passed through
  auto decrypt = media::SrtpReceiver::create(to_callee).value();
  size_t n = got.size();
  ASSERT_EQ(decrypt->unprotect(got.data(), n, false), media::SrtpReceiver::Outcome::kOk);
  got.resize(n);
  EXPECT_EQ(got, plain);
  auto at_rec = received(rec);
  ASSERT_EQ(at_rec.size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(at_rec[0].begin(), at_rec[0].end()), plain);
  // A replay of the real packet: dropped.
  a.send_to(asio::buffer(p), to_a);
  EXPECT_TRUE(received(b).empty());
  EXPECT_EQ(r->counters().srtp_failed[0], 2u);
  r->close();
  tap.value()->close();
}

}  // namespace
}  // namespace verbatim::gateway
