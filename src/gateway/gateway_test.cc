#include <sys/socket.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "gateway/dialog_journal.h"
#include "gateway/prompts.h"
#include "gateway/queue_router.h"
#include "gateway/registrar.h"
#include "gateway/relay.h"
#include "media/dtls_srtp.h"
#include "media/rtp.h"
#include "media/stun.h"
#include "media/transcoder.h"
#include "sip/digest.h"

namespace verbatim::gateway {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

// --- registrar -------------------------------------------------------------------------------

class RegistrarTest : public ::testing::Test {
 protected:
  RegistrarTest()
      : registrar(
            {},
            [this](std::string_view user, std::string_view realm,
                   sip::DigestAlgorithm a) -> std::optional<std::string> {
              ++lookups;
              if (realm != "contoso.com" || (user != "alice" && user != "bob")) return std::nullopt;
              return sip::digest_ha1(a, user, realm, user == "alice" ? "alice-pw" : "bob-pw");
            },
            [](const std::string& domain) { return domain == "contoso.com"; }) {}

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

TEST_F(RegistrarTest, BindingsSurviveARestartThroughASnapshot) {
  ASSERT_EQ(register_as("sip:alice@contoso.com", "alice", "alice-pw",
                        "<sip:alice@192.0.2.10:5062>;expires=600")
                .status,
            200);
  ASSERT_EQ(register_as("sip:alice@contoso.com", "alice", "alice-pw",
                        "<sip:alice@192.0.2.11:5062>;expires=300", "", 4)
                .status,
            200);
  EXPECT_TRUE(registrar.changed());
  auto saved = registrar.snapshot();
  EXPECT_FALSE(registrar.changed());
  ASSERT_EQ(saved.size(), 2u);
  // An expired entry and a garbled one are skipped.
  saved.push_back(saved[0]);
  saved.back()["expiresUnixMs"] = 1000;
  saved.push_back({{"identity", 7}});
  Registrar again(
      {},
      [](std::string_view, std::string_view, sip::DigestAlgorithm) {
        return std::optional<std::string>();
      },
      [](const std::string&) { return true; });
  EXPECT_EQ(again.restore(saved), 2u);
  auto b = again.bindings("alice@contoso.com");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].contact, "sip:alice@192.0.2.11:5062");  // newest first, as before
  EXPECT_EQ(b[1].source.port, 5062);
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(
      b[1].expires - std::chrono::steady_clock::now());
  EXPECT_GT(left.count(), 590);
  EXPECT_LE(left.count(), 600);
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

TEST_F(RegistrarTest, ABrowserConnectionIsBoundToItsUserAndItsRegistrationsEndWithIt) {
  peer = sip::Peer{"WSS", "192.0.2.10", 40001};
  // Browser stacks answer only the first challenge, and only MD5: over WebSocket it comes first.
  auto challenge = registrar.on_register(
      request("REGISTER", "sip:alice@contoso.com", "", "<sip:k3h2@df7jal23ls0d.invalid>"), peer);
  ASSERT_EQ(challenge.headers.size(), 2u);
  EXPECT_NE(challenge.headers[0].second.find("algorithm=MD5"), std::string::npos);
  ASSERT_EQ(register_as("sip:alice@contoso.com", "alice", "alice-pw",
                        "<sip:k3h2@df7jal23ls0d.invalid;transport=ws>")
                .status,
            200);
  EXPECT_EQ(registrar.flow_user(peer), "alice@contoso.com");
  // Bob's own, valid, credentials on Alice's connection: refused before any challenge.
  auto as_bob = registrar.authenticate(request("INVITE", "sip:bob@contoso.com", "", "", 5), peer);
  EXPECT_EQ(as_bob.reply.status, 403);
  EXPECT_NE(as_bob.reply.headers.at(0).second.find("signed in as alice@contoso.com"),
            std::string::npos);
  // On another connection Bob signs in as usual, and a phone of Alice's registers too.
  const sip::Peer bob_flow{"WSS", "192.0.2.10", 40002};
  auto first =
      registrar.authenticate(request("INVITE", "sip:bob@contoso.com", "", "", 6), bob_flow);
  auto bob = registrar.authenticate(request("INVITE", "sip:bob@contoso.com",
                                            answer(first.reply, "INVITE", "bob", "bob-pw"), "", 7),
                                    bob_flow);
  EXPECT_EQ(bob.identity, "bob@contoso.com");
  const sip::Peer browser = peer;
  peer = sip::Peer{"UDP", "192.0.2.20", 5060};
  ASSERT_EQ(
      register_as("sip:alice@contoso.com", "alice", "alice-pw", "<sip:alice@192.0.2.20>", "", 9)
          .status,
      200);
  ASSERT_EQ(registrar.bindings("alice@contoso.com").size(), 2u);
  // The browser's connection closes: its registration goes, the phone's stays, and a new
  // connection from the same address and port is nobody until it signs in.
  EXPECT_EQ(registrar.flow_closed(browser), 1u);
  auto left = registrar.bindings("alice@contoso.com");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].source.transport, "UDP");
  EXPECT_EQ(registrar.flow_user(browser), "");
  EXPECT_EQ(registrar.flow_user(bob_flow), "bob@contoso.com");
  // A restart does not bring back what was registered over a browser's connection.
  peer = browser;
  ASSERT_EQ(register_as("sip:alice@contoso.com", "alice", "alice-pw",
                        "<sip:k3h2@df7jal23ls0d.invalid;transport=ws>", "", 11)
                .status,
            200);
  auto saved = registrar.snapshot();
  Registrar restarted(
      {},
      [](std::string_view, std::string_view, sip::DigestAlgorithm) {
        return std::optional<std::string>();
      },
      [](const std::string&) { return true; });
  EXPECT_EQ(restarted.restore(saved), 1u);
  ASSERT_EQ(restarted.bindings("alice@contoso.com").size(), 1u);
  EXPECT_EQ(restarted.bindings("alice@contoso.com")[0].source.transport, "UDP");
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
  // `n` free even ports from `first` on (RTP; RTCP on the odd one above).
  std::vector<uint16_t> free_ports(uint16_t first, size_t n) {
    std::vector<uint16_t> out;
    for (uint16_t p = first; p < first + 400 && out.size() < n; p += 2) {
      udp::socket probe(io);
      boost::system::error_code ec;
      probe.open(udp::v4());
      probe.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), p), ec);
      if (!ec) out.push_back(p);
    }
    return out;
  }
  // Runs the relay's loop briefly, then reads what `s` got.
  std::vector<std::string> received(udp::socket& s, int ms = 100) {
    io.restart();
    io.run_for(std::chrono::milliseconds(ms));
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
  const auto ports = free_ports(41000, 3);
  ASSERT_EQ(ports.size(), 3u);
  const uint16_t pa = ports[0], pb = ports[1], pt = ports[2];
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
  // Paused (call control): the call goes on, the recorder gets nothing until it resumes.
  r->pause_tap(t, true);
  a.send_to(asio::buffer(std::string("card-number")), to_a);
  EXPECT_EQ(received(b), std::vector<std::string>{"card-number"});
  EXPECT_TRUE(received(rec).empty());
  EXPECT_EQ(r->counters().withheld, 1u);
  r->pause_tap(t, false);
  a.send_to(asio::buffer(std::string("from-a-3")), to_a);
  EXPECT_EQ(received(b), std::vector<std::string>{"from-a-3"});
  EXPECT_EQ(received(rec), std::vector<std::string>{"from-a-3"});
  r->remove_tap(t);
  a.send_to(asio::buffer(std::string("from-a-4")), to_a);
  EXPECT_EQ(received(b), std::vector<std::string>{"from-a-4"});
  EXPECT_TRUE(received(rec).empty());
  EXPECT_EQ(r->counters().received[0], 5u);
  EXPECT_EQ(r->counters().tapped, 2u);
  r->close();
  tap.value()->close();
}

// What a port is given to send goes out once the loop has run what was ready: in one system
// call, a run of equal datagrams to one address as one GSO send (the last may be shorter). A
// receiver without GRO gets each datagram as it was given, in order.
TEST_F(RelayTest, TapPortsSendWhatTheyAreGivenInOneCallEachDatagramIntact) {
  const auto ports = free_ports(41800, 1);
  ASSERT_EQ(ports.size(), 1u);
  auto tap = TapPorts::open(io, asio::ip::make_address("127.0.0.1"), ports[0]).value();
  udp::socket member = bind("127.0.0.1"), recorder = bind("127.0.0.1");
  std::vector<std::string> to_member, to_recorder;
  for (int i = 0; i < 6; ++i) {
    // A frame's packets (the last shorter), and between them a packet to another address.
    to_member.push_back(std::string(i == 5 ? 300 : 1000, static_cast<char>('a' + i)));
    tap->send(false, reinterpret_cast<const uint8_t*>(to_member.back().data()),
              to_member.back().size(), member.local_endpoint());
    if (i % 3 == 0) {
      to_recorder.push_back("copy-" + std::to_string(i));
      tap->send(false, reinterpret_cast<const uint8_t*>(to_recorder.back().data()),
                to_recorder.back().size(), recorder.local_endpoint());
    }
  }
  EXPECT_EQ(tap->sent(), 0u);  // queued until the loop runs
  EXPECT_EQ(received(member), to_member);
  EXPECT_EQ(received(recorder), to_recorder);
  EXPECT_EQ(tap->sent(), 8u);
  EXPECT_EQ(tap->send_calls(), 1u);
  // Closing sends what is still queued.
  tap->send(false, reinterpret_cast<const uint8_t*>("last"), 4, member.local_endpoint());
  tap->close();
  EXPECT_EQ(received(member), std::vector<std::string>{"last"});
}

TEST_F(RelayTest, SrtpIsDecryptedOnOneSideReEncryptedOnTheOtherAndForgeriesDropped) {
  const auto ports = free_ports(41400, 4);
  ASSERT_EQ(ports.size(), 4u);
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
  // A recorder with SRTP gets the copy encrypted with the key offered to it.
  const media::SdesKey to_recorder = new_key();
  udp::socket rec2 = bind("127.0.0.1");
  auto tap2 = TapPorts::open(io, asio::ip::make_address("127.0.0.1"), ports[3]);
  ASSERT_TRUE(tap2);
  r->add_tap(Side::kA, tap2.value(), rec2.local_endpoint(),
             media::SrtpSender::create(to_recorder).value());
  auto p2 = rtp(3);
  auto plain2 = p2;
  ASSERT_TRUE(sender->protect(p2, false));
  a.send_to(asio::buffer(p2), to_a);
  auto at_rec2 = received(rec2);
  ASSERT_EQ(at_rec2.size(), 1u);
  std::vector<uint8_t> enc(at_rec2[0].begin(), at_rec2[0].end());
  EXPECT_NE(enc, plain2);
  auto rec_rx = media::SrtpReceiver::create(to_recorder).value();
  size_t n2 = enc.size();
  ASSERT_EQ(rec_rx->unprotect(enc.data(), n2, false), media::SrtpReceiver::Outcome::kOk);
  enc.resize(n2);
  EXPECT_EQ(enc, plain2);
  EXPECT_EQ(received(b).size(), 1u);  // the callee got it as before
  tap2.value()->close();
  // A replay of the real packet: dropped.
  a.send_to(asio::buffer(p), to_a);
  EXPECT_TRUE(received(b).empty());
  EXPECT_EQ(r->counters().srtp_failed[0], 2u);
  r->close();
  tap.value()->close();
}

// A browser (WebRTC) side as the gateway's relay sees it: checks with ICE credentials, DTLS
// that keys SRTP, from the checked address only.
struct Browser {
  Browser(udp::socket s, std::shared_ptr<const media::DtlsIdentity> gateway)
      : socket(std::move(s)),
        dtls(media::DtlsSrtp::create(identity, media::DtlsSrtp::Role::kClient,
                                     gateway->fingerprint())
                 .value()) {}
  std::vector<uint8_t> check(const std::string& ufrag, const std::string& pwd) const {
    media::StunTransaction t{};
    t[0] = 7;
    return media::binding_request(t, ufrag + ":brws", pwd, 1000, true);
  }
  std::shared_ptr<const media::DtlsIdentity> identity = media::DtlsIdentity::generate().value();
  udp::socket socket;
  std::unique_ptr<media::DtlsSrtp> dtls;
};

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<uint8_t> rtp_packet(uint16_t seq) {
  std::vector<uint8_t> p = {
      0x80, 0x00, static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq), 0, 0, 0, 160, 9, 8,
      7,    6};
  p.resize(12 + 160, 0xd5);
  return p;
}

TEST_F(RelayTest, ABrowserSideIsCheckedByIceKeyedByDtlsAndGetsOnlySrtp) {
  const auto ports = free_ports(41600, 2);
  ASSERT_EQ(ports.size(), 2u);
  auto r = RelayStream::open(io, asio::ip::make_address("127.0.0.1"), ports[0], ports[1]).value();
  auto ours = media::DtlsIdentity::generate().value();
  Browser browser(bind("127.0.0.1"), ours);
  media::IceLite ice;
  const std::string ufrag = ice.ufrag(), pwd = ice.pwd();
  r->set_ice(Side::kA, std::move(ice));
  r->set_dtls(Side::kA, media::DtlsSrtp::create(ours, media::DtlsSrtp::Role::kServer,
                                                browser.identity->fingerprint())
                            .value());
  udp::socket phone = bind("127.0.0.1"), stranger = bind("127.0.0.1");
  r->set_remote(Side::kB, phone.local_endpoint());
  const udp::endpoint to_a(asio::ip::make_address("127.0.0.1"), ports[0]);
  const udp::endpoint to_b(asio::ip::make_address("127.0.0.1"), ports[1]);

  // DTLS before ICE checked the address: dropped.
  auto flight = browser.dtls->start();
  browser.socket.send_to(asio::buffer(flight[0]), to_a);
  EXPECT_TRUE(received(browser.socket).empty());
  EXPECT_EQ(r->counters().foreign[0], 1u);
  // A check with the wrong password: 401, and that address stays unchecked.
  stranger.send_to(asio::buffer(browser.check(ufrag, "not-the-password-at-all")), to_a);
  ASSERT_EQ(received(stranger).size(), 1u);
  EXPECT_EQ(r->counters().ice_answered[0], 0u);
  // The browser's check is answered with the address it came from.
  browser.socket.send_to(asio::buffer(browser.check(ufrag, pwd)), to_a);
  auto answer = received(browser.socket);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(media::mapped_address(bytes(answer[0]), pwd), browser.socket.local_endpoint());
  // The handshake, through the relay's port.
  for (int round = 0; round < 10 && !browser.dtls->done(); ++round) {
    for (const auto& d : flight) browser.socket.send_to(asio::buffer(d), to_a);
    flight.clear();
    for (const auto& in : received(browser.socket)) {
      for (auto& d : browser.dtls->receive(bytes(in))) flight.push_back(std::move(d));
    }
  }
  ASSERT_TRUE(browser.dtls->done()) << browser.dtls->failure();
  for (const auto& d : flight) browser.socket.send_to(asio::buffer(d), to_a);

  // SRTP from the browser: plain RTP at the phone; the phone's RTP: SRTP at the browser.
  auto to_phone = media::SrtpSender::create(browser.dtls->local_key()).value();
  auto from_phone = media::SrtpReceiver::create(browser.dtls->remote_key()).value();
  const auto plain = rtp_packet(1);
  auto p = plain;
  ASSERT_TRUE(to_phone->protect(p, false));
  browser.socket.send_to(asio::buffer(p), to_a);
  auto at_phone = received(phone);
  ASSERT_EQ(at_phone.size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(at_phone[0].begin(), at_phone[0].end()), plain);
  phone.send_to(asio::buffer(plain), to_b);
  auto at_browser = received(browser.socket);
  ASSERT_EQ(at_browser.size(), 1u);
  std::vector<uint8_t> got(at_browser[0].begin(), at_browser[0].end());
  EXPECT_NE(got, plain);
  size_t n = got.size();
  ASSERT_EQ(from_phone->unprotect(got.data(), n, false), media::SrtpReceiver::Outcome::kOk);
  got.resize(n);
  EXPECT_EQ(got, plain);
  // Good SRTP from an address ICE never checked: dropped.
  auto p2 = rtp_packet(2);
  ASSERT_TRUE(to_phone->protect(p2, false));
  const uint64_t foreign = r->counters().foreign[0];
  stranger.send_to(asio::buffer(p2), to_a);
  EXPECT_TRUE(received(phone).empty());
  EXPECT_EQ(r->counters().foreign[0], foreign + 1);
  // RTCP comes muxed on the same port and goes on to the phone's RTCP port.
  std::vector<uint8_t> rtcp = {0x80, 200, 0, 6, 9, 8, 7, 6};
  rtcp.resize(28, 0);
  ASSERT_TRUE(to_phone->protect(rtcp, true));
  browser.socket.send_to(asio::buffer(rtcp), to_a);
  EXPECT_TRUE(received(phone).empty()) << "RTCP is not sent to the RTP port";
  EXPECT_EQ(r->counters().received[0], 2u);
  EXPECT_EQ(r->counters().srtp_failed[0], 0u);
  r->close();
}

// The callee's case: DTLS arrives (from a checked address) before its answer names the
// certificate; it is kept, and the handshake fails when the certificate is not the SDP's.
TEST_F(RelayTest, ABrowserWhoseCertificateIsNotTheSdpsIsRefusedAndNothingIsRelayed) {
  const auto ports = free_ports(41700, 2);
  ASSERT_EQ(ports.size(), 2u);
  auto r = RelayStream::open(io, asio::ip::make_address("127.0.0.1"), ports[0], ports[1]).value();
  auto ours = media::DtlsIdentity::generate().value();
  auto other = media::DtlsIdentity::generate().value();
  Browser browser(bind("127.0.0.1"), ours);
  media::IceLite ice;
  const std::string ufrag = ice.ufrag(), pwd = ice.pwd();
  r->set_ice(Side::kB, std::move(ice));
  udp::socket phone = bind("127.0.0.1");
  r->set_remote(Side::kA, phone.local_endpoint());
  const udp::endpoint to_b(asio::ip::make_address("127.0.0.1"), ports[1]);
  browser.socket.send_to(asio::buffer(browser.check(ufrag, pwd)), to_b);
  ASSERT_EQ(received(browser.socket).size(), 1u);
  auto flight = browser.dtls->start();
  for (const auto& d : flight) browser.socket.send_to(asio::buffer(d), to_b);
  EXPECT_TRUE(received(browser.socket).empty()) << "kept until the answer comes";
  // The answer names another certificate than the one the browser presents.
  r->set_dtls(
      Side::kB,
      media::DtlsSrtp::create(ours, media::DtlsSrtp::Role::kServer, other->fingerprint()).value());
  for (int round = 0; round < 10; ++round) {
    flight.clear();
    for (const auto& in : received(browser.socket, 50)) {
      for (auto& d : browser.dtls->receive(bytes(in))) flight.push_back(std::move(d));
    }
    for (const auto& d : flight) browser.socket.send_to(asio::buffer(d), to_b);
  }
  received(browser.socket);
  EXPECT_EQ(r->counters().dtls_failed[1], 1u);
  // Whatever it sends now is never relayed (no keys), nor is the phone's RTP sent to it.
  auto p = rtp_packet(1);
  browser.socket.send_to(asio::buffer(p), to_b);
  EXPECT_TRUE(received(phone).empty());
  EXPECT_EQ(r->counters().received[1], 0u);
  phone.send_to(asio::buffer(p), udp::endpoint(asio::ip::make_address("127.0.0.1"), ports[0]));
  EXPECT_TRUE(received(browser.socket).empty());
  EXPECT_EQ(r->counters().forwarded[0], 0u);
  r->close();
}

// Transcoding on the relay: the caller's Opus reaches the callee as PCMU (a stream of the
// transcoder's own), the recorder gets the Opus as sent, and the callee's PCMU reaches the caller
// as Opus.
TEST_F(RelayTest, ATranscodedStreamReachesEachSideInItsCodecAndTheTapAsSent) {
  const auto ports = free_ports(41900, 3);
  ASSERT_EQ(ports.size(), 3u);
  auto r = RelayStream::open(io, asio::ip::make_address("127.0.0.1"), ports[0], ports[1]).value();
  r->set_transcoder(Side::kA, media::Transcoder::create({"opus", 111}, {"PCMU", 0}).value());
  r->set_transcoder(Side::kB, media::Transcoder::create({"PCMU", 0}, {"opus", 111}).value());
  udp::socket a = bind("127.0.0.1"), b = bind("127.0.0.1"), rec = bind("127.0.0.1");
  r->set_remote(Side::kA, a.local_endpoint());
  r->set_remote(Side::kB, b.local_endpoint());
  auto tap = TapPorts::open(io, asio::ip::make_address("127.0.0.1"), ports[2]).value();
  r->add_tap(Side::kA, tap, rec.local_endpoint());
  auto opus = media::make_encoder("opus", 48000).value();
  auto pcmu = media::make_encoder("PCMU").value();
  const std::vector<int16_t> silence960(960, 0), silence160(160, 0);
  for (uint16_t seq = 0; seq < 3; ++seq) {
    std::vector<uint8_t> payload, p;
    ASSERT_TRUE(opus->encode(silence960, payload));
    media::write_rtp_header(p, 111, false, seq, seq * 960u, 77);
    p.insert(p.end(), payload.begin(), payload.end());
    a.send_to(asio::buffer(p), udp::endpoint(asio::ip::make_address("127.0.0.1"), ports[0]));
  }
  auto at_b = received(b);
  ASSERT_EQ(at_b.size(), 3u);
  for (const auto& d : at_b) {
    auto p = media::parse_rtp(bytes(d)).value();
    EXPECT_EQ(p.payload_type, 0);
    EXPECT_EQ(p.payload.size(), 160u);
    EXPECT_NE(p.ssrc, 77u);
  }
  auto at_rec = received(rec);
  ASSERT_EQ(at_rec.size(), 3u);
  EXPECT_EQ(media::parse_rtp(bytes(at_rec[0])).value().payload_type, 111) << "as sent";
  std::vector<uint8_t> payload, p;
  ASSERT_TRUE(pcmu->encode(silence160, payload));
  media::write_rtp_header(p, 0, false, 9, 0, 88);
  p.insert(p.end(), payload.begin(), payload.end());
  b.send_to(asio::buffer(p), udp::endpoint(asio::ip::make_address("127.0.0.1"), ports[1]));
  auto at_a = received(a);
  ASSERT_EQ(at_a.size(), 1u);
  EXPECT_EQ(media::parse_rtp(bytes(at_a[0])).value().payload_type, 111);
  EXPECT_EQ(r->counters().transcoded[0], 3u);
  EXPECT_EQ(r->counters().transcoded[1], 1u);
  r->close();
  tap->close();
}

TEST_F(RelayTest, AnnouncementPlaysToOneSideInsteadOfTheOtherAndThenStops) {
  const auto ports = free_ports(41800, 3);
  ASSERT_EQ(ports.size(), 3u);
  auto r = RelayStream::open(io, asio::ip::make_address("127.0.0.1"), ports[0], ports[1]).value();
  udp::socket a = bind("127.0.0.1"), b = bind("127.0.0.1"), rec = bind("127.0.0.1");
  r->set_remote(Side::kA, a.local_endpoint());
  r->set_remote(Side::kB, b.local_endpoint());
  auto tap = TapPorts::open(io, asio::ip::make_address("127.0.0.1"), ports[2]).value();
  r->add_tap(Side::kA, tap, rec.local_endpoint());
  auto frames = std::make_shared<std::vector<std::vector<uint8_t>>>();
  for (uint8_t i = 0; i < 10; ++i) frames->push_back(std::vector<uint8_t>(160, i));
  int64_t done = -1;
  r->play(Side::kB, Announcement{8, 160, frames},
          [&done](uint64_t sent) { done = static_cast<int64_t>(sent); });
  EXPECT_TRUE(r->playing(Side::kB));
  // What A says meanwhile reaches the recorder, not B (B hears the announcement).
  const udp::endpoint to_a(asio::ip::make_address("127.0.0.1"), ports[0]);
  a.send_to(asio::buffer(std::string("from-a-1")), to_a);
  auto at_b = received(b, 400);
  EXPECT_EQ(received(rec), std::vector<std::string>{"from-a-1"});
  ASSERT_EQ(at_b.size(), 10u);
  EXPECT_EQ(done, 10);
  EXPECT_FALSE(r->playing(Side::kB));
  auto u16 = [](const std::string& p, size_t at) {
    return static_cast<uint16_t>(static_cast<uint8_t>(p[at]) << 8 |
                                 static_cast<uint8_t>(p[at + 1]));
  };
  for (size_t i = 0; i < at_b.size(); ++i) {
    const std::string& p = at_b[i];
    ASSERT_EQ(p.size(), 12u + 160u);
    EXPECT_EQ(static_cast<uint8_t>(p[0]), 0x80);
    EXPECT_EQ(static_cast<uint8_t>(p[1]), (i == 0 ? 0x80 : 0) | 8);  // marker on the first
    EXPECT_EQ(static_cast<uint16_t>(u16(p, 2) - u16(at_b[0], 2)), i);
    const uint32_t ts = static_cast<uint32_t>(u16(p, 4)) << 16 | u16(p, 6);
    const uint32_t ts0 = static_cast<uint32_t>(u16(at_b[0], 4)) << 16 | u16(at_b[0], 6);
    EXPECT_EQ(ts - ts0, 160 * i);
    EXPECT_EQ(p.substr(8, 4), at_b[0].substr(8, 4));  // one SSRC
    EXPECT_EQ(static_cast<uint8_t>(p[12]), i);
  }
  EXPECT_EQ(r->counters().announced[1], 10u);
  // Over: B hears A again.
  a.send_to(asio::buffer(std::string("from-a-2")), to_a);
  EXPECT_EQ(received(b), std::vector<std::string>{"from-a-2"});
  // Closing mid-announcement stops it without calling back.
  done = -1;
  r->play(Side::kA, Announcement{0, 160, frames}, [&done](uint64_t sent) { done = 0; });
  r->close();
  io.restart();
  io.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(done, -1);
  tap->close();
}

// --- prompts ---------------------------------------------------------------------------------

// A WAV file of a 440 Hz tone: 16-bit mono at `rate`.
void write_wav(const std::filesystem::path& path, int rate, double seconds) {
  std::filesystem::create_directories(path.parent_path());
  const auto n = static_cast<uint32_t>(rate * seconds);
  std::string d;
  auto u32 = [&d](uint32_t v) {
    for (int i = 0; i < 4; ++i) d.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto u16 = [&d](uint16_t v) {
    d.push_back(static_cast<char>(v));
    d.push_back(static_cast<char>(v >> 8));
  };
  d += "RIFF";
  u32(36 + n * 2);
  d += "WAVEfmt ";
  u32(16);
  u16(1);
  u16(1);
  u32(static_cast<uint32_t>(rate));
  u32(static_cast<uint32_t>(rate * 2));
  u16(2);
  u16(16);
  d += "data";
  u32(n * 2);
  for (uint32_t i = 0; i < n; ++i) {
    u16(static_cast<uint16_t>(static_cast<int16_t>(8000 * std::sin(2 * M_PI * 440 * i / rate))));
  }
  std::ofstream(path, std::ios::binary) << d;
}

TEST(Prompts, BuiltInLanguagesFallBackAndAdminFilesComeFirst) {
  const auto admin =
      std::filesystem::temp_directory_path() / ("vb-prompts-" + std::to_string(::getpid()));
  std::filesystem::remove_all(admin);
  PromptLibrary lib({admin.string(), VERBATIM_BUILT_PROMPTS});
  // Every built-in language has every prompt, in a few seconds of speech.
  for (const char* lang : {"en", "de", "fr", "es", "it", "ja"}) {
    for (Prompt p : {Prompt::kRecordingStarted, Prompt::kRecordingStopped, Prompt::kMeetingPin,
                     Prompt::kMeetingPinWrong, Prompt::kMeetingRecordingStarted,
                     Prompt::kMeetingRecordingUnavailable, Prompt::kMeetingRecordingStopped}) {
      auto got = lib.get(p, lang, "PCMA");
      ASSERT_TRUE(got) << lang << ": " << got.error().message;
      EXPECT_EQ(got.value()->language, lang);
      EXPECT_GT(got.value()->duration_ms(), 1500) << lang;
      EXPECT_LT(got.value()->duration_ms(), 10000) << lang;
    }
  }
  // Region subtags and unknown languages fall back.
  EXPECT_EQ(lib.get(Prompt::kRecordingStarted, "de-CH", "PCMU").value()->language, "de");
  EXPECT_EQ(lib.get(Prompt::kRecordingStarted, "pt-BR", "PCMU").value()->language, "en");
  EXPECT_EQ(lib.get(Prompt::kRecordingStarted, "../../etc", "PCMU").value()->language, "en");
  EXPECT_EQ(lib.get(Prompt::kRecordingStarted, "", "G722").value()->language, "en");
  EXPECT_FALSE(lib.get(Prompt::kRecordingStarted, "en", "G729"));
  // An admin's own recording wins over the built-in one (any rate: resampled).
  write_wav(admin / "de" / "recording-started.wav", 44100, 1.0);
  PromptLibrary lib2({admin.string(), VERBATIM_BUILT_PROMPTS});
  auto de = lib2.get(Prompt::kRecordingStarted, "de-DE", "PCMA");
  ASSERT_TRUE(de);
  EXPECT_EQ(de.value()->file, (admin / "de" / "recording-started.wav").string());
  EXPECT_EQ(de.value()->frames->size(), 50u);
  // A broken one is reported and skipped: the built-in French plays.
  std::filesystem::create_directories(admin / "fr");
  std::ofstream(admin / "fr" / "recording-started.wav") << "not a sound file";
  PromptLibrary lib3({admin.string(), VERBATIM_BUILT_PROMPTS});
  const auto problems = lib3.check();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("fr/recording-started.wav"), std::string::npos);
  auto fr = lib3.get(Prompt::kRecordingStarted, "fr", "PCMA");
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr.value()->file.rfind(VERBATIM_BUILT_PROMPTS, 0), 0u);
  // Too long for a notice.
  write_wav(admin / "it" / "recording-started.wav", 8000, PromptLibrary::kMaxSeconds + 1);
  int rate = 0;
  EXPECT_FALSE(PromptLibrary::read((admin / "it" / "recording-started.wav").string(), rate));
  std::filesystem::remove_all(admin);
}

// --- dialog journal --------------------------------------------------------------------------

QueueRoute four_agents(Routing r) {
  QueueRoute q;
  q.identity = "q1";
  q.routing = r;
  for (const char* n : {"ann", "ben", "cat", "dan"})
    q.agents.push_back({std::string(n) + "@x", "", "", ""});
  return q;
}

TEST(QueueRouter, EachRoutingMethodPicksItsAgentsAndRoundsEnd) {
  QueueRouter router;
  std::set<std::string> away = {"cat@x"}, busy = {"ben@x"};
  auto state = [&](const QueueAgent& a) {
    return QueueRouter::AgentState{!away.count(a.identity), busy.count(a.identity) > 0};
  };
  std::set<size_t> tried;
  // Attendant: every reachable agent at once (busy ones too without presence); then the round
  // is over.
  auto q = four_agents(Routing::kAttendant);
  EXPECT_EQ(router.next(q, tried, state), (std::vector<size_t>{0, 1, 3}));
  EXPECT_TRUE(router.next(q, tried, state).empty());
  q.presence_based = true;
  tried.clear();
  EXPECT_EQ(router.next(q, tried, state), (std::vector<size_t>{0, 3}));
  // Serial: in order, skipping the unreachable, one per attempt.
  q = four_agents(Routing::kSerial);
  tried.clear();
  EXPECT_EQ(router.next(q, tried, state), (std::vector<size_t>{0}));
  EXPECT_EQ(router.next(q, tried, state), (std::vector<size_t>{1}));
  EXPECT_EQ(router.next(q, tried, state), (std::vector<size_t>{3}));
  EXPECT_TRUE(router.next(q, tried, state).empty());
  // RoundRobin: each new call starts after the agent the previous call was offered to.
  q = four_agents(Routing::kRoundRobin);
  std::vector<size_t> first;
  for (int call = 0; call < 4; ++call) {
    std::set<size_t> t;
    first.push_back(router.next(q, t, state).at(0));
  }
  EXPECT_EQ(first, (std::vector<size_t>{0, 1, 3, 0}));
  // LongestIdle: never-used agents first, then the one idle longest; busy ones never.
  q = four_agents(Routing::kLongestIdle);
  const auto t0 = std::chrono::steady_clock::now();
  router.idle_from("ann@x", t0 + std::chrono::seconds(5));
  router.idle_from("dan@x", t0 + std::chrono::seconds(1));
  tried.clear();
  EXPECT_EQ(router.next(q, tried, state), (std::vector<size_t>{3}));
  EXPECT_EQ(router.next(q, tried, state), (std::vector<size_t>{0}));
  EXPECT_TRUE(router.next(q, tried, state).empty());  // ben busy, cat away
  EXPECT_EQ(routing_from_name("roundrobin"), Routing::kRoundRobin);
  EXPECT_STREQ(routing_name(Routing::kLongestIdle), "LongestIdle");
}

TEST(DialogJournal, WhatAPreviousRunLeftUpIsRecoveredAndTheFileStartsAfresh) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("vb-dialogs-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  auto dialog = [](uint64_t n) {
    JournaledDialog d;
    d.session = n;
    d.call = "call-" + std::to_string(n);
    d.role = n % 2 ? "caller" : "recorder";
    d.dialog = {"cid-" + std::to_string(n),
                "lt",
                "rt",
                "<sip:gw@x>",
                "<sip:a@y>",
                "sip:a@127.0.0.1:5062",
                {"<sip:p@127.0.0.1;lr>"},
                7,
                n % 2 == 0};
    d.peer = {"UDP", "127.0.0.1", static_cast<uint16_t>(5000 + n)};
    return d;
  };
  {
    DialogJournal j(path.string());
    ASSERT_TRUE(j.recover());  // no file: nothing left
    for (uint64_t n = 1; n <= 4; ++n) j.up(dialog(n));
    j.down(2);
    j.down(99);  // never journaled: nothing written
    j.flush();
    // As if killed here (the destructor only flushes), with a line cut short by the crash:
  }
  std::ofstream(path, std::ios::app) << R"(["up", 5, "cut)";
  DialogJournal j(path.string());
  size_t bad = 0;
  auto left = j.recover(&bad);
  ASSERT_TRUE(left);
  EXPECT_EQ(bad, 1u);
  ASSERT_EQ(left.value().size(), 3u);
  EXPECT_EQ(left.value()[0].session, 1u);
  EXPECT_EQ(left.value()[2].session, 4u);
  const auto& d = left.value()[2];
  EXPECT_EQ(d.dialog.call_id, "cid-4");
  EXPECT_EQ(d.dialog.route_set, std::vector<std::string>{"<sip:p@127.0.0.1;lr>"});
  EXPECT_EQ(d.dialog.local_cseq, 7u);
  EXPECT_TRUE(d.dialog.uac);
  EXPECT_EQ(d.peer.port, 5004);
  EXPECT_EQ(d.role, "recorder");
  // The BYE it makes: in the dialog, a CSeq well above the saved one, routed.
  auto bye = sip::Dialog::restore(d.dialog).make_request("BYE", "<sip:gw@127.0.0.1>");
  EXPECT_EQ(bye.request_uri(), "sip:a@127.0.0.1:5062");
  EXPECT_EQ(bye.call_id().value(), "cid-4");
  EXPECT_GT(bye.cseq().value().number, 7u);
  // The file started afresh: nothing is left a second time.
  j.flush();
  DialogJournal again(path.string());
  EXPECT_TRUE(again.recover().value().empty());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace verbatim::gateway
