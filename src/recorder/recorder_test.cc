#include <gtest/gtest.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

#include <boost/asio/io_context.hpp>

#include "common/clock.h"
#include "media/port_pool.h"
#include "recorder/stream.h"

namespace verbatim::recorder {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using nlohmann::json;

TEST(PortPool, EvenPairsRoundRobin) {
  media::PortPool pool(30001, 30008);  // 30002/3, 30004/5, 30006/7
  EXPECT_EQ(pool.capacity(), 3u);
  EXPECT_EQ(pool.take(), 30002);
  EXPECT_EQ(pool.take(), 30004);
  pool.give(30002);
  EXPECT_EQ(pool.take(), 30006);  // the port just released is the last to be used again
  EXPECT_EQ(pool.take(), 30002);
  EXPECT_FALSE(pool.take());
}

struct Sink : PacketSink {
  std::vector<std::vector<uint8_t>> packets;
  std::vector<json> events;
  void record(const StreamReceiver&, std::chrono::system_clock::time_point, const udp::endpoint&,
              const udp::endpoint&, media::Bytes d) override {
    packets.emplace_back(d.begin(), d.end());
  }
  void event(const StreamReceiver&, json e) override { events.push_back(std::move(e)); }
  size_t count(const std::string& type) const {
    size_t n = 0;
    for (const auto& e : events) n += e["type"] == type;
    return n;
  }
};

std::vector<uint8_t> rtp(uint16_t seq, uint32_t ts, uint32_t ssrc, uint8_t pt = 0,
                         const std::vector<uint8_t>& payload = std::vector<uint8_t>(160, 0xff)) {
  std::vector<uint8_t> p;
  p.reserve(12 + payload.size());
  p.push_back(0x80);
  p.push_back(pt);
  for (int shift : {8, 0}) p.push_back(static_cast<uint8_t>(seq >> shift));
  for (int shift : {24, 16, 8, 0}) p.push_back(static_cast<uint8_t>(ts >> shift));
  for (int shift : {24, 16, 8, 0}) p.push_back(static_cast<uint8_t>(ssrc >> shift));
  for (uint8_t b : payload) p.push_back(b);
  return p;
}

struct Fixture : ::testing::Test {
  asio::io_context io;
  Sink sink;
  udp::endpoint src{asio::ip::make_address("192.0.2.10"), 40000};
  std::chrono::system_clock::time_point t0 = std::chrono::system_clock::now();
  std::chrono::steady_clock::time_point s0 = std::chrono::steady_clock::now();

  std::shared_ptr<StreamReceiver> make(StreamReceiver::Latch latch) {
    StreamSpec spec;
    spec.label = "1";
    spec.source = asio::ip::make_address("192.0.2.10");
    spec.payloads[0] = sip::RtpMap{0, "PCMU", 8000, 1};
    spec.payloads[9] = sip::RtpMap{9, "G722", 8000, 1};
    spec.telephone_event = 101;
    return std::make_shared<StreamReceiver>(io, 0, spec, latch, &sink);
  }
  void send(StreamReceiver& r, const udp::endpoint& from, const std::vector<uint8_t>& d, int i = 0,
            bool rtcp = false) {
    r.on_datagram(rtcp, from, media::Bytes(d.data(), d.size()),
                  t0 + std::chrono::milliseconds(20 * i), s0 + std::chrono::milliseconds(20 * i));
  }
};

// A gateway's GSO send (a run of equal datagrams in one buffer, the last may be shorter) may
// arrive in one read: each datagram is recorded as it was sent.
TEST_F(Fixture, DatagramsThatArriveTogetherAreRecordedOneByOne) {
  StreamSpec spec;
  spec.label = "1";
  spec.payloads[0] = sip::RtpMap{0, "PCMU", 8000, 1};
  std::shared_ptr<StreamReceiver> r;
  for (uint16_t port = 42600; port < 43000 && !r; port += 2) {
    auto opened = StreamReceiver::open(io, asio::ip::make_address("127.0.0.1"), port, spec,
                                       StreamReceiver::Latch::kFirstPacket, &sink);
    if (opened) r = opened.value();
  }
  ASSERT_TRUE(r);
  r->start();
  std::vector<std::vector<uint8_t>> sent;
  std::vector<uint8_t> run;
  for (int i = 0; i < 4; ++i) {
    sent.push_back(rtp(static_cast<uint16_t>(i), 160u * i, 0x5150, 0,
                       std::vector<uint8_t>(i == 3 ? 40 : 160, static_cast<uint8_t>(i))));
    run.insert(run.end(), sent.back().begin(), sent.back().end());
  }
  udp::socket s(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), r->port());
  iovec part{run.data(), run.size()};
  alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(uint16_t))> control{};
  msghdr h{};
  h.msg_name = const_cast<sockaddr*>(to.data());
  h.msg_namelen = static_cast<socklen_t>(to.size());
  h.msg_iov = &part;
  h.msg_iovlen = 1;
  h.msg_control = control.data();
  h.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  const auto segment = static_cast<uint16_t>(sent[0].size());
  std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  if (::sendmsg(s.native_handle(), &h, 0) < 0) GTEST_SKIP() << "no UDP GSO here";
  for (int i = 0; i < 50 && sink.packets.size() < sent.size(); ++i) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(sink.packets, sent);
  r->close();
}

// T12: after latching, packets from anyone else never reach the evidence.
TEST_F(Fixture, LatchesToTheSdpSourceAndDropsForeignPackets) {
  auto r = make(StreamReceiver::Latch::kSdpAddress);
  udp::endpoint attacker{asio::ip::make_address("198.51.100.66"), 40000};
  send(*r, attacker, rtp(1, 160, 0xdead), 0);  // before latching, from the wrong address
  EXPECT_EQ(r->counters().foreign, 1u);
  EXPECT_FALSE(r->latched());
  for (int i = 0; i < 10; ++i) send(*r, src, rtp(100 + i, 160 * i, 0x1234), i);
  ASSERT_TRUE(r->latched());
  EXPECT_EQ(*r->latched(), src);
  // The same address, another port; then a spoofed SSRC from the attacker.
  send(*r, udp::endpoint(src.address(), 40002), rtp(110, 1600, 0x1234), 10);
  send(*r, attacker, rtp(111, 1760, 0x1234), 11);
  EXPECT_EQ(sink.packets.size(), 10u);
  EXPECT_EQ(r->counters().foreign, 3u);
  EXPECT_EQ(sink.count("foreign-source"), 3u);
  EXPECT_EQ(sink.count("latched"), 1u);
}

TEST_F(Fixture, FirstPacketLatchTakesAnyAddressButOnlyOne) {
  auto r = make(StreamReceiver::Latch::kFirstPacket);
  udp::endpoint nat{asio::ip::make_address("203.0.113.5"), 5004};
  send(*r, nat, rtp(1, 0, 7), 0);
  send(*r, src, rtp(2, 160, 7), 1);
  EXPECT_EQ(sink.packets.size(), 1u);
  EXPECT_EQ(r->counters().foreign, 1u);
}

TEST_F(Fixture, GarbageDoesNotLatch) {
  auto r = make(StreamReceiver::Latch::kFirstPacket);
  const std::vector<uint8_t> junk = {0x00, 0x01, 0x02};
  send(*r, src, junk);
  EXPECT_FALSE(r->latched());
  EXPECT_EQ(r->counters().invalid, 1u);
  EXPECT_TRUE(sink.packets.empty());
}

// T14: duplicates dropped, late packets kept, each (SSRC, seq) once.
TEST_F(Fixture, DuplicatesDroppedLateKept) {
  auto r = make(StreamReceiver::Latch::kSdpAddress);
  for (int i : {0, 1, 2, 4, 3, 3, 5, 2, 6}) send(*r, src, rtp(1000 + i, 160 * i, 0x42), i);
  EXPECT_EQ(sink.packets.size(), 7u);
  EXPECT_EQ(r->counters().duplicates, 2u);
  const json s = r->summary();
  EXPECT_EQ(s["sources"][0]["received"], 7);
  EXPECT_EQ(s["sources"][0]["lost"], 0);
  EXPECT_EQ(s["sources"][0]["late"], 1);
}

// T15 / T16: a new SSRC and a new payload type are timed events; both kept.
TEST_F(Fixture, SsrcAndCodecChangesAreEvents) {
  auto r = make(StreamReceiver::Latch::kSdpAddress);
  for (int i = 0; i < 5; ++i) send(*r, src, rtp(10 + i, 160 * i, 0xaaaa), i);
  for (int i = 5; i < 10; ++i) send(*r, src, rtp(500 + i, 9000 + 160 * i, 0xbbbb), i);
  for (int i = 10; i < 15; ++i) send(*r, src, rtp(500 + i, 9000 + 160 * i, 0xbbbb, 9), i);
  EXPECT_EQ(sink.packets.size(), 15u);
  EXPECT_EQ(sink.count("ssrc"), 1u);
  EXPECT_EQ(sink.count("ssrc-change"), 1u);
  EXPECT_EQ(sink.count("codec"), 2u);  // PCMU on each SSRC
  EXPECT_EQ(sink.count("codec-change"), 1u);
  EXPECT_EQ(r->summary()["sources"].size(), 2u);
  // A payload type the answer did not accept: kept as evidence, flagged once.
  send(*r, src, rtp(515, 12000, 0xbbbb, 18), 15);
  send(*r, src, rtp(516, 12160, 0xbbbb, 18), 16);
  EXPECT_EQ(sink.packets.size(), 17u);
  EXPECT_EQ(sink.count("unknown-payload"), 1u);
}

// A silence of a second or more while receiving is a gap, placed where it began; lost packets are
// summed over a window and noted where the first was lost; a gap lasting to the end is noted at
// the end. A packet late but filling a hole is not loss.
TEST_F(Fixture, MediaGapsAndLossAreTimedEvents) {
  auto r = make(StreamReceiver::Latch::kSdpAddress);
  for (int i = 0; i < 50; ++i) send(*r, src, rtp(static_cast<uint16_t>(i), 160 * i, 0x77), i);
  // 0.98 s after the last packet: not a gap.
  for (int i = 98; i < 120; ++i)
    send(*r, src, rtp(static_cast<uint16_t>(i - 48), 160 * i, 0x77), i);
  EXPECT_EQ(sink.count("gap"), 0u);
  // 2 s of nothing (the sender numbered nothing: silence, not loss).
  for (int i = 220; i < 250; ++i)
    send(*r, src, rtp(static_cast<uint16_t>(i - 148), 160 * i, 0x77), i);
  ASSERT_EQ(sink.count("gap"), 1u);
  json gap;
  for (const auto& e : sink.events) {
    if (e["type"] == "gap") gap = e;
  }
  EXPECT_DOUBLE_EQ(gap["seconds"].get<double>(), 2.0);
  EXPECT_EQ(gap["startedAt"], format_iso8601_ms(t0 + std::chrono::milliseconds(20 * 119)));
  EXPECT_FALSE(gap.contains("toEnd"));
  // 10 packets lost at 250, 2 more at 300, one of them late at 301: one event of 11 packets once
  // the window has passed.
  int seq = 102;
  for (int i = 250; i < 600; ++i) {
    if (i == 250) seq += 10;
    if (i == 300) seq += 2;
    if (i == 301) send(*r, src, rtp(static_cast<uint16_t>(seq - 2), 160 * i, 0x77), i);
    send(*r, src, rtp(static_cast<uint16_t>(seq++), 160 * i, 0x77), i);
  }
  ASSERT_EQ(sink.count("loss"), 1u);
  json loss;
  for (const auto& e : sink.events) {
    if (e["type"] == "loss") loss = e;
  }
  EXPECT_EQ(loss["packets"], 11);
  EXPECT_EQ(loss["startedAt"], format_iso8601_ms(t0 + std::chrono::milliseconds(20 * 250)));
  EXPECT_EQ(r->summary()["sources"][0]["lost"], 11);
  // Loss still being summed, and a silence to the end, are noted when the recording ends.
  seq += 3;
  send(*r, src, rtp(static_cast<uint16_t>(seq), 160 * 600, 0x77), 600);
  r->finish(t0 + std::chrono::milliseconds(20 * 700), s0 + std::chrono::milliseconds(20 * 700));
  EXPECT_EQ(sink.count("loss"), 2u);
  ASSERT_EQ(sink.count("gap"), 2u);
  EXPECT_TRUE(sink.events.back()["toEnd"].get<bool>());
  EXPECT_EQ(r->summary()["gaps"], 2);
}

// RFC 4733: one DTMF event per timestamp, reported once although the end packet repeats.
TEST_F(Fixture, TelephoneEventsBecomeDtmfEvents) {
  auto r = make(StreamReceiver::Latch::kSdpAddress);
  auto ev = [](uint8_t code, bool end, uint16_t dur) {
    return std::vector<uint8_t>{code, static_cast<uint8_t>(end ? 0x8a : 0x0a),
                                static_cast<uint8_t>(dur >> 8), static_cast<uint8_t>(dur)};
  };
  int i = 0;
  for (uint16_t d : {160, 320, 480}) {
    send(*r, src, rtp(static_cast<uint16_t>(1 + i), 8000, 9, 101, ev(5, false, d)), i);
    ++i;
  }
  for (int k = 0; k < 3; ++k) {
    send(*r, src, rtp(static_cast<uint16_t>(4 + k), 8000, 9, 101, ev(5, true, 800)), i);
    ++i;
  }
  send(*r, src, rtp(7, 16000, 9, 101, ev(11, true, 400)), i);  // '#', only end packets
  ASSERT_EQ(sink.count("dtmf"), 2u);
  std::vector<std::string> digits;
  for (const auto& e : sink.events) {
    if (e["type"] == "dtmf") digits.push_back(e["digit"]);
  }
  EXPECT_EQ(digits, (std::vector<std::string>{"5", "#"}));
}

TEST_F(Fixture, RtcpFromTheLatchedHostIsKept) {
  auto r = make(StreamReceiver::Latch::kSdpAddress);
  send(*r, src, rtp(1, 0, 0x99), 0);
  // RR with no report blocks.
  const std::vector<uint8_t> rr = {0x80, 201, 0x00, 0x01, 0x00, 0x00, 0x00, 0x99};
  send(*r, udp::endpoint(src.address(), 40001), rr, 1, /*rtcp=*/true);
  send(*r, udp::endpoint(asio::ip::make_address("198.51.100.1"), 40001), rr, 2, true);
  EXPECT_EQ(r->counters().rtcp, 1u);
  EXPECT_EQ(r->counters().foreign, 1u);
  EXPECT_EQ(sink.packets.size(), 2u);
}

// T13: SRTP with the right key is decrypted and stored; a packet with a wrong tag (an attacker
// at the right port and even the latched source) or from another key is never stored and never
// latches; a replay is dropped.
TEST_F(Fixture, SrtpAuthenticatesBeforeAnythingElse) {
  const auto key = media::parse_sdes_key("AES_CM_128_HMAC_SHA1_80",
                                         media::new_sdes_inline("AES_CM_128_HMAC_SHA1_80"))
                       .value();
  auto r = make(StreamReceiver::Latch::kFirstPacket);
  StreamSpec spec = r->spec();
  spec.srtp = key;
  r->update(spec);
  auto tx = media::SrtpSender::create(key).value();
  auto attacker = media::SrtpSender::create(
                      media::parse_sdes_key("AES_CM_128_HMAC_SHA1_80",
                                            media::new_sdes_inline("AES_CM_128_HMAC_SHA1_80"))
                          .value())
                      .value();
  udp::endpoint evil{asio::ip::make_address("198.51.100.66"), 4000};
  auto forged = rtp(1, 0, 0x77);
  ASSERT_TRUE(attacker->protect(forged, false));
  send(*r, evil, forged, 0);  // first-packet latching: it would have latched, were it valid
  EXPECT_FALSE(r->latched());
  EXPECT_EQ(r->counters().srtp_auth_failed, 1u);
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 5; ++i) {
    auto p = rtp(static_cast<uint16_t>(10 + i), 160 * i, 0x55);
    sent.push_back(p);
    ASSERT_TRUE(tx->protect(p, false));
    send(*r, src, p, i + 1);
    if (i == 2) send(*r, src, p, i + 1);  // replayed
  }
  auto tampered = rtp(15, 800, 0x55);
  ASSERT_TRUE(tx->protect(tampered, false));
  tampered[20] ^= 0x01;
  send(*r, src, tampered, 7);
  ASSERT_TRUE(r->latched());
  EXPECT_EQ(*r->latched(), src);
  EXPECT_EQ(sink.packets, sent) << "decrypted, exactly what was sent";
  EXPECT_EQ(r->counters().srtp_auth_failed, 2u);
  EXPECT_EQ(r->counters().duplicates, 1u);
  EXPECT_EQ(sink.count("srtp-auth-failed"), 2u);
  EXPECT_EQ(r->summary()["srtp"], "AES_CM_128_HMAC_SHA1_80");
}

}  // namespace
}  // namespace verbatim::recorder
