#include "media/rtp.h"

#include <gtest/gtest.h>

namespace verbatim::media {
namespace {

std::vector<uint8_t> rtp(uint16_t seq, uint32_t ts, uint32_t ssrc,
                         std::vector<uint8_t> payload = {1, 2, 3}, uint8_t pt = 0,
                         bool marker = false) {
  std::vector<uint8_t> p = {0x80,
                            static_cast<uint8_t>((marker ? 0x80 : 0) | pt),
                            static_cast<uint8_t>(seq >> 8),
                            static_cast<uint8_t>(seq),
                            static_cast<uint8_t>(ts >> 24),
                            static_cast<uint8_t>(ts >> 16),
                            static_cast<uint8_t>(ts >> 8),
                            static_cast<uint8_t>(ts),
                            static_cast<uint8_t>(ssrc >> 24),
                            static_cast<uint8_t>(ssrc >> 16),
                            static_cast<uint8_t>(ssrc >> 8),
                            static_cast<uint8_t>(ssrc)};
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

TEST(Rtp, ParsesHeaderCsrcExtensionAndPadding) {
  auto plain = rtp(4660, 0x11223344, 0xdeadbeef, {9, 8, 7}, 8, true);
  auto p = parse_rtp(plain);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p.value().sequence, 4660);
  EXPECT_EQ(p.value().timestamp, 0x11223344u);
  EXPECT_EQ(p.value().ssrc, 0xdeadbeefu);
  EXPECT_EQ(p.value().payload_type, 8);
  EXPECT_TRUE(p.value().marker);
  ASSERT_EQ(p.value().payload.size(), 3u);
  EXPECT_EQ(p.value().payload[0], 9);

  // One CSRC, a one-word extension (RFC 8285 0xBEDE), two bytes of padding.
  std::vector<uint8_t> full = rtp(1, 2, 3, {});
  full[0] = 0x80 | 0x20 | 0x10 | 1;
  for (uint8_t b : {0, 0, 0, 42}) full.push_back(b);                         // CSRC 42
  for (uint8_t b : {0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0}) full.push_back(b);  // extension
  for (uint8_t b : {5, 6, 0, 2}) full.push_back(b);  // payload 5 6, padding 2
  auto f = parse_rtp(full);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f.value().csrc_count, 1);
  EXPECT_EQ(f.value().csrc[0], 42u);
  EXPECT_EQ(f.value().extension_profile, 0xBEDE);
  EXPECT_EQ(f.value().extension.size(), 4u);
  ASSERT_EQ(f.value().payload.size(), 2u);
  EXPECT_EQ(f.value().payload[1], 6);
  EXPECT_EQ(f.value().padding, 2);
}

TEST(Rtp, RejectsWhatDoesNotFit) {
  EXPECT_FALSE(parse_rtp(std::vector<uint8_t>(11, 0x80)));
  auto v1 = rtp(1, 1, 1);
  v1[0] = 0x40;
  EXPECT_NE(parse_rtp(v1).error().message.find("version 1"), std::string::npos);
  auto cc = rtp(1, 1, 1, {});
  cc[0] = 0x8f;  // 15 CSRCs announced, none there
  EXPECT_NE(parse_rtp(cc).error().message.find("CSRC"), std::string::npos);
  auto ext = rtp(1, 1, 1, {0xBE, 0xDE, 0xff, 0xff});
  ext[0] = 0x90;
  EXPECT_NE(parse_rtp(ext).error().message.find("extension"), std::string::npos);
  auto pad = rtp(1, 1, 1, {1, 200});
  pad[0] = 0xa0;
  EXPECT_NE(parse_rtp(pad).error().message.find("padding"), std::string::npos);
  auto zero_pad = rtp(1, 1, 1, {1, 0});
  zero_pad[0] = 0xa0;
  EXPECT_FALSE(parse_rtp(zero_pad));
}

TEST(Rtp, ClassifiesWhatArrivesOnOnePort) {
  EXPECT_EQ(classify(rtp(1, 1, 1)), PacketKind::kRtp);
  EXPECT_EQ(classify(rtp(1, 1, 1, {}, 72, true)), PacketKind::kRtcp) << "PT 200 = SR";
  EXPECT_EQ(classify(std::vector<uint8_t>{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}), PacketKind::kStun);
  EXPECT_EQ(classify(std::vector<uint8_t>{22, 254, 253, 0}), PacketKind::kDtls);
  EXPECT_EQ(classify(std::vector<uint8_t>{}), PacketKind::kUnknown);
  EXPECT_EQ(classify(std::vector<uint8_t>{0x80, 0}), PacketKind::kUnknown);
}

TEST(Rtcp, ParsesACompoundSrSdesBye) {
  std::vector<uint8_t> c = {                               // SR, RC=1, length 12 words
                            0x81, 200, 0, 12, 0, 0, 0, 7,  // ssrc 7
                            0xe8, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,  // NTP
                            0, 0, 0x1f, 0x40,                                // RTP ts 8000
                            0, 0, 0, 50, 0, 0, 0x1f, 0x40,  // 50 packets, 8000 octets
                            0, 0, 0, 9,                     // block: ssrc 9
                            25, 0xff, 0xff, 0xfe,           // fraction 25/256, cumulative -2
                            0, 1, 0, 100, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0,
                            // SDES, SC=1, length 3 words: ssrc 7, CNAME "ab", END, pad
                            0x81, 202, 0, 3, 0, 0, 0, 7, 1, 2, 'a', 'b', 0, 0, 0, 0,
                            // BYE, SC=1, length 3: ssrc 7, reason "bye"
                            0x81, 203, 0, 2, 0, 0, 0, 7, 3, 'b', 'y', 'e'};
  auto r = parse_rtcp(c);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r.value().size(), 3u);
  const auto& sr = r.value()[0];
  EXPECT_EQ(sr.type, RtcpPacket::kSr);
  EXPECT_EQ(sr.ssrc, 7u);
  EXPECT_EQ(sr.packet_count, 50u);
  EXPECT_EQ(sr.rtp_timestamp, 8000u);
  ASSERT_EQ(sr.reports.size(), 1u);
  EXPECT_EQ(sr.reports[0].cumulative_lost, -2);
  EXPECT_EQ(sr.reports[0].fraction_lost, 25);
  EXPECT_EQ(sr.reports[0].highest_sequence, 65636u);
  EXPECT_EQ(sr.reports[0].jitter, 12u);
  ASSERT_EQ(r.value()[1].sdes.size(), 1u);
  EXPECT_EQ(r.value()[1].sdes[0].text, "ab");
  EXPECT_EQ(r.value()[2].bye_sources, std::vector<uint32_t>{7});
  EXPECT_EQ(r.value()[2].bye_reason, "bye");
}

TEST(Rtcp, RejectsLengthsThatDoNotFit) {
  // libsrtp's "short SRTCP" class (T32): a length field pointing past the datagram.
  EXPECT_FALSE(parse_rtcp(std::vector<uint8_t>{0x80, 201, 0, 5, 0, 0, 0, 1}));
  EXPECT_FALSE(parse_rtcp(std::vector<uint8_t>{0x81, 201, 0, 1, 0, 0, 0, 1}))
      << "a report block announced but missing";
  EXPECT_FALSE(parse_rtcp(std::vector<uint8_t>{0x81, 202, 0, 1, 0, 0, 0, 1}))
      << "an SDES chunk without END";
  EXPECT_FALSE(parse_rtcp(std::vector<uint8_t>{0x80, 201}));
  EXPECT_FALSE(parse_rtcp(std::vector<uint8_t>{0x80, 201, 0, 1, 0, 0, 0, 1, 0x80}))
      << "trailing bytes";
  // Unknown types (feedback, XR) are skipped by their length.
  auto fb = parse_rtcp(std::vector<uint8_t>{0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2});
  ASSERT_TRUE(fb);
  EXPECT_EQ(fb.value()[0].ssrc, 1u);
}

TEST(SourceStats, CountsLossReorderDuplicatesAcrossTheWrap) {
  SourceStats s;
  uint32_t now = 0;
  uint16_t seq = 65500;
  uint32_t ts = 1000;
  // 100 packets from 65500 across the wrap; every 5th lost; two swapped; one duplicated.
  std::vector<uint16_t> order;
  for (int i = 0; i < 100; ++i) {
    if (i % 5 == 4) continue;
    order.push_back(static_cast<uint16_t>(seq + i));
  }
  std::swap(order[10], order[11]);
  order.insert(order.begin() + 30, order[29]);
  int duplicates = 0, late = 0;
  for (uint16_t q : order) {
    const uint32_t offset = static_cast<uint16_t>(q - seq);
    const Arrival a = s.update(q, ts + 160 * offset, now + 160 * offset);
    duplicates += a == Arrival::kDuplicate;
    late += a == Arrival::kLate;
  }
  EXPECT_EQ(duplicates, 1);
  EXPECT_EQ(late, 1);
  EXPECT_EQ(s.received(), 80u);
  EXPECT_EQ(s.expected(), 99u) << "65500 .. 65598 (the 100th was lost)";
  EXPECT_EQ(s.lost(), 19);
  EXPECT_EQ(s.extended_highest(), 0x10000u + 62);
  EXPECT_NEAR(s.jitter_ms(), 0.0, 0.01) << "packets arrive exactly on their timestamps";
  EXPECT_LT(s.mos(), 3.5) << "20 % loss";
  SourceStats clean;
  for (uint16_t q = 0; q < 50; ++q) clean.update(q, q * 160u, q * 160u);
  EXPECT_GT(clean.mos(), 4.3);
  EXPECT_EQ(clean.lost(), 0);
}

// A pause or a hold: the numbers the sender used while the stream was inactive never came, and
// are not loss; a gap after the stream is active again is (across the wrap too).
TEST(SourceStats, AGapWhileInactiveIsNotLoss) {
  SourceStats s;
  uint16_t q = 65000;
  for (int i = 0; i < 100; ++i, ++q) s.update(q, q * 160u, q * 160u);
  s.inactive();
  q = static_cast<uint16_t>(q + 1000);  // 1000 packets withheld, across the wrap
  for (int i = 0; i < 100; ++i, ++q) s.update(q, q * 160u, q * 160u);
  EXPECT_EQ(s.received(), 200u);
  EXPECT_EQ(s.expected(), 200u);
  EXPECT_EQ(s.lost(), 0);
  EXPECT_GT(s.mos(), 4.3);
  q = static_cast<uint16_t>(q + 10);  // lost in the network: counted
  s.update(q, q * 160u, q * 160u);
  EXPECT_EQ(s.lost(), 10);
  SourceStats fresh;
  fresh.inactive();  // nothing seen yet: nothing to skip
  fresh.update(7, 0, 0);
  fresh.update(8, 160, 160);
  EXPECT_EQ(fresh.expected(), 2u);
}

TEST(SourceStats, ProbationRestartsAndJitter) {
  SourceStats s;
  EXPECT_EQ(s.update(65535, 0, 0), Arrival::kProbation);
  EXPECT_EQ(s.update(0, 160, 160), Arrival::kInOrder) << "confirmed across the wrap";
  EXPECT_EQ(s.expected(), 2u);
  EXPECT_EQ(s.update(1, 320, 320), Arrival::kInOrder);
  // A stray packet far away is ignored; the same jump twice in sequence is a restart.
  EXPECT_EQ(s.update(30000, 9, 9), Arrival::kProbation);
  EXPECT_EQ(s.update(2, 480, 480), Arrival::kInOrder);
  EXPECT_EQ(s.update(40000, 0, 500), Arrival::kProbation);
  EXPECT_EQ(s.update(40001, 160, 660), Arrival::kRestart);
  EXPECT_EQ(s.restarts(), 1u);
  EXPECT_EQ(s.expected(), 1u);
  // Found by rtp_fuzz: just after a start at 0, 65535 is from before the source began.
  SourceStats fresh;
  fresh.update(0, 0, 0);
  fresh.update(1, 160, 160);
  EXPECT_EQ(fresh.update(65535, 0, 0), Arrival::kTooOld);
  EXPECT_EQ(fresh.received(), 2u);
  // From before the restart: dropped from the statistics.
  EXPECT_EQ(s.update(39990, 0, 700), Arrival::kTooOld);
  // 2,000 back is not "late" but a jump (RFC 3550 A.1: MAX_MISORDER 100).
  EXPECT_EQ(s.update(38000, 0, 700), Arrival::kProbation);
  // Jitter: arrivals alternate 0 and 40 ms late -> converges towards 320 units (40 ms).
  SourceStats j;
  for (uint16_t q = 0; q < 2000; ++q) j.update(q, q * 160u, q * 160u + (q % 2) * 320u);
  EXPECT_NEAR(j.jitter_ms(), 40.0, 2.0);
}

TEST(Rtp, AHeaderWeWriteParsesBackToItsFields) {
  std::vector<uint8_t> packet{1, 2, 3};  // replaced, not appended to
  write_rtp_header(packet, 101, true, 0xfffe, 0x89abcdef, 0x01020304);
  ASSERT_EQ(packet.size(), 12u);
  packet.push_back(0x42);
  auto p = parse_rtp(packet);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p.value().payload_type, 101);
  EXPECT_TRUE(p.value().marker);
  EXPECT_EQ(p.value().sequence, 0xfffe);
  EXPECT_EQ(p.value().timestamp, 0x89abcdefu);
  EXPECT_EQ(p.value().ssrc, 0x01020304u);
  ASSERT_EQ(p.value().payload.size(), 1u);
  EXPECT_EQ(p.value().payload[0], 0x42);
}

}  // namespace
}  // namespace verbatim::media
