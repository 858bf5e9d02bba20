#include "media/live_mix.h"

#include <opus/opus.h>

#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

namespace verbatim::media {
namespace {

constexpr int64_t kT0 = int64_t{1'800'000'000} * 1'000'000'000;
constexpr int64_t kMs = 1'000'000;

std::vector<uint8_t> live_rtp(uint16_t seq, uint32_t ts, uint8_t pt,
                              const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> p = {0x80, pt, static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq)};
  for (int shift : {24, 16, 8, 0}) p.push_back(static_cast<uint8_t>(ts >> shift));
  for (int shift : {24, 16, 8, 0}) p.push_back(static_cast<uint8_t>(0x1234 >> shift));
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

// `seconds` of a 1 kHz tone (or silence) as PCMU packets to `port`, arriving from `at_ns` every
// 20 ms, as pcap records.
std::vector<uint8_t> call(uint16_t port, int64_t at_ns, double seconds, bool tone) {
  std::vector<int16_t> pcm(static_cast<size_t>(8000 * seconds));
  for (size_t i = 0; tone && i < pcm.size(); ++i)
    pcm[i] = static_cast<int16_t>(8000 * std::sin(2 * std::numbers::pi * 1000 * double(i) / 8000));
  auto frames = encode_frames("PCMU", pcm, 8000).value();
  std::vector<uint8_t> out;
  const auto from = UdpEndpoint::parse("127.0.0.1", 40000).value();
  const auto to = UdpEndpoint::parse("127.0.0.1", port).value();
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(at_ns + int64_t(i) * 20 * kMs)));
    EXPECT_TRUE(append_pcap_udp(
        out, at, from, to,
        live_rtp(static_cast<uint16_t>(i), static_cast<uint32_t>(i * 160), 0, frames[i])));
  }
  return out;
}

double rms(const std::vector<int16_t>& v) {
  double e = 0;
  for (int16_t x : v) e += double(x) * x;
  return v.empty() ? 0 : std::sqrt(e / double(v.size()));
}

TEST(LiveMix, EveryStreamMixedOnTheCallsClockAndSentOnceItIsDelayOld) {
  const std::vector<LiveStream> streams = {
      {"1", 7400, {{0, "PCMU/8000"}}},
      {"2", 7402, {{0, "PCMU/8000"}, {101, "telephone-event/8000"}}}};
  auto mix = LiveMix::create(streams, kT0, std::chrono::milliseconds(1300)).value();
  auto header = pcap_file_header();
  // Evidence from before the listener joined is skipped: 2 s of tone before kT0 - 1.3 s.
  auto before = call(7400, kT0 - 4000 * kMs, 2.0, true);
  // Then a second of tone on stream 1, silence on stream 2, and nothing on port 9999.
  auto a = call(7400, kT0, 1.0, true);
  auto b = call(7402, kT0, 1.0, false);
  auto c = call(9999, kT0, 1.0, true);
  std::vector<uint8_t> all = header;
  for (auto* part : {&before, &a, &b, &c}) all.insert(all.end(), part->begin(), part->end());
  // Fed in uneven pieces, as the archive's chunks come.
  for (size_t at = 0; at < all.size(); at += 1000)
    ASSERT_TRUE(mix->feed(std::span(all).subspan(at, std::min<size_t>(1000, all.size() - at))));
  EXPECT_EQ(mix->decoded(), 100u);  // 50 per stream; none from before, none from port 9999

  // Nothing is due until each 20 ms is 1.3 s old.
  EXPECT_TRUE(mix->frames(kT0 + 1300 * kMs).value().empty());
  auto first = mix->frames(kT0 + 1800 * kMs).value();
  ASSERT_EQ(first.size(), 25u);
  EXPECT_EQ(first[0].capture_ns, kT0);
  EXPECT_EQ(first[24].capture_ns, kT0 + 480 * kMs);
  // Then the rest, and past the end of the audio silent frames keep the clock going.
  auto rest = mix->frames(kT0 + 3300 * kMs).value();
  ASSERT_EQ(rest.size(), 75u);
  EXPECT_TRUE(rest[20].sound);
  EXPECT_FALSE(rest[40].sound);  // 1.3 s: after the tone

  // The Opus packets decode back to the tone.
  int err = 0;
  OpusDecoder* dec = opus_decoder_create(LiveMix::kRate, 1, &err);
  ASSERT_TRUE(dec);
  std::vector<int16_t> heard;
  for (const auto* list : {&first, &rest}) {
    for (const auto& f : *list) {
      std::vector<int16_t> pcm(LiveMix::kFrame);
      ASSERT_EQ(opus_decode(dec, f.opus.data(), static_cast<opus_int32>(f.opus.size()), pcm.data(),
                            LiveMix::kFrame, 0),
                LiveMix::kFrame);
      heard.insert(heard.end(), pcm.begin(), pcm.end());
    }
  }
  opus_decoder_destroy(dec);
  EXPECT_GT(rms({heard.begin() + 3200, heard.begin() + 14400}), 3000);  // 0.2-0.9 s: the tone
  EXPECT_LT(rms({heard.begin() + 20000, heard.begin() + 32000}), 100);  // 1.25-2 s: nothing

  // A packet for 20 ms already sent is dropped and counted, as is one from before the first
  // packet (the recorder's clock stepped back).
  auto late = call(7400, kT0 + 100 * kMs, 0.02, true);
  ASSERT_TRUE(mix->feed(late));
  EXPECT_EQ(mix->late(), 1u);
  auto stepped_back = call(7402, kT0 - 1000 * kMs, 0.02, true);
  ASSERT_TRUE(mix->feed(stepped_back));
  EXPECT_EQ(mix->late(), 2u);
}

}  // namespace
}  // namespace verbatim::media
