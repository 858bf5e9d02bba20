#include "media/transcoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "media/rtp.h"

namespace verbatim::media {
namespace {

// 20 ms frames of a tone at `hz`, sampled at `rate`, encoded as `encoding` in RTP packets.
std::vector<std::vector<uint8_t>> tone_packets(const std::string& encoding, uint8_t pt, int rate,
                                               int encoder_rate, double hz, int frames) {
  auto enc = make_encoder(encoding, encoder_rate).value();
  std::vector<std::vector<uint8_t>> out;
  const int n = rate / 50;
  for (int f = 0; f < frames; ++f) {
    std::vector<int16_t> frame(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      frame[static_cast<size_t>(i)] =
          static_cast<int16_t>(8000 * std::sin(2 * std::numbers::pi * hz * (f * n + i) / rate));
    }
    std::vector<uint8_t> payload;
    EXPECT_TRUE(enc->encode(frame, payload));
    std::vector<uint8_t> p;
    write_rtp_header(p, pt, f == 0, static_cast<uint16_t>(1000 + f),
                     static_cast<uint32_t>(f * static_cast<int>(frame_ticks(encoding))), 0x1234);
    p.insert(p.end(), payload.begin(), payload.end());
    out.push_back(std::move(p));
  }
  return out;
}

// How strongly `hz` is in `pcm` at `rate` (Goertzel, relative to the energy): ~1 pure, ~0 absent.
double presence(const std::vector<int16_t>& pcm, int rate, double hz) {
  const double w = 2 * std::numbers::pi * hz / rate, c = 2 * std::cos(w);
  double s1 = 0, s2 = 0, energy = 0;
  for (int16_t x : pcm) {
    const double s = x + c * s1 - s2;
    s2 = s1;
    s1 = s;
    energy += static_cast<double>(x) * x;
  }
  const double power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return energy > 0 ? 2 * power / (energy * static_cast<double>(pcm.size())) : 0;
}

// Decodes what came out (checking it is one RTP stream of `pt`, stepping `ticks` per packet).
std::vector<int16_t> decode_all(const std::vector<std::vector<uint8_t>>& packets,
                                const std::string& encoding, uint8_t pt, uint32_t ticks, int rate) {
  auto dec = make_decoder(encoding, rate).value();
  std::vector<int16_t> pcm;
  for (size_t i = 0; i < packets.size(); ++i) {
    auto p = parse_rtp(packets[i]).value();
    EXPECT_EQ(p.payload_type, pt);
    auto first = parse_rtp(packets[0]).value();
    EXPECT_EQ(p.ssrc, first.ssrc);
    EXPECT_NE(p.ssrc, 0x1234u) << "a stream of the transcoder's own";
    EXPECT_EQ(static_cast<uint16_t>(p.sequence - first.sequence), i);
    EXPECT_EQ(p.timestamp - first.timestamp, ticks * i);
    EXPECT_EQ(p.marker, i == 0);
    EXPECT_TRUE(dec->decode(p.payload, pcm));
  }
  return pcm;
}

TEST(Transcoder, OpusFromABrowserBecomesG711ForAPhoneWithTheToneIntact) {
  auto t = Transcoder::create({"opus", 111}, {"PCMU", 0}).value();
  std::vector<std::vector<uint8_t>> out;
  for (const auto& p : tone_packets("opus", 111, 48000, 48000, 1000, 50)) t->transcode(p, out);
  ASSERT_EQ(out.size(), 50u);
  EXPECT_EQ(out[0].size(), 12u + 160);
  const auto pcm = decode_all(out, "PCMU", 0, 160, 8000);
  const std::vector<int16_t> settled(pcm.begin() + 800, pcm.end());  // past the codec's start
  EXPECT_GT(presence(settled, 8000, 1000), 0.8);
  EXPECT_LT(presence(settled, 8000, 440), 0.05);
}

TEST(Transcoder, G711FromAPhoneBecomesOpusForABrowserWithTheToneIntact) {
  auto t = Transcoder::create({"PCMA", 8}, {"opus", 111}).value();
  std::vector<std::vector<uint8_t>> out;
  for (const auto& p : tone_packets("PCMA", 8, 8000, 8000, 440, 50)) t->transcode(p, out);
  ASSERT_EQ(out.size(), 50u);
  const auto pcm = decode_all(out, "opus", 111, 960, 48000);
  ASSERT_EQ(pcm.size(), 50u * 960);
  const std::vector<int16_t> settled(pcm.begin() + 4800, pcm.end());
  EXPECT_GT(presence(settled, 48000, 440), 0.8);
  EXPECT_LT(presence(settled, 48000, 1000), 0.05);
}

TEST(Transcoder, ALostPacketIsConcealedDuplicatesAndOtherPayloadsAreNotCarried) {
  auto t = Transcoder::create({"PCMU", 0}, {"opus", 111}).value();
  auto in = tone_packets("PCMU", 0, 8000, 8000, 440, 10);
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (i == 4) continue;  // lost
    t->transcode(in[i], out);
  }
  t->transcode(in[9], out);  // a duplicate
  std::vector<uint8_t> dtmf;
  write_rtp_header(dtmf, 101, false, 2000, 0, 0x1234);
  dtmf.insert(dtmf.end(), {1, 0x8a, 0, 160});
  t->transcode(dtmf, out);
  // Ten frames out (the lost one made up with the next), timestamps unbroken.
  EXPECT_EQ(out.size(), 10u);
  decode_all(out, "opus", 111, 960, 48000);
  EXPECT_EQ(t->packets_in(), 9u);
  EXPECT_EQ(t->dropped(), 2u);
  EXPECT_FALSE(Transcoder::create({"GSM", 3}, {"PCMU", 0}));
}

}  // namespace
}  // namespace verbatim::media
