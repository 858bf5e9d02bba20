#include "recorder/playback.h"

#include <opus/opus.h>
#include <opus/opusfile.h>

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "media/pcap.h"

// spandsp's headers must come in this order (telephony.h defines what the others use).
// clang-format off
extern "C" {
#include <spandsp/telephony.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>
}
// clang-format on

namespace verbatim::recorder {
namespace {

using nlohmann::json;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kT0 = int64_t{1'800'000'000} * 1'000'000'000;  // the first packet

std::vector<uint8_t> rtp_packet(uint16_t seq, uint32_t ts, uint32_t ssrc, uint8_t pt,
                                const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> p = {0x80, pt, static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq)};
  for (int shift : {24, 16, 8, 0}) p.push_back(static_cast<uint8_t>(ts >> shift));
  for (int shift : {24, 16, 8, 0}) p.push_back(static_cast<uint8_t>(ssrc >> shift));
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

double tone(double hz, int64_t sample, int rate) {
  return 8000 * std::sin(2 * M_PI * hz * static_cast<double>(sample) / rate);
}

struct Packet {
  int64_t at;  // ns
  uint16_t port;
  std::vector<uint8_t> datagram;
};

// 20 ms of a tone as PCMU, sample `first` on.
std::vector<uint8_t> pcmu(double hz, int64_t first) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 160; ++i)
    out.push_back(linear_to_ulaw(static_cast<int>(tone(hz, first + i, 8000))));
  return out;
}

std::string pcap(const std::vector<Packet>& packets) {
  std::vector<uint8_t> out = media::pcap_file_header();
  auto from = media::UdpEndpoint::parse("192.0.2.10", 40000).value();
  for (const auto& p : packets) {
    auto to = media::UdpEndpoint::parse("192.0.2.1", p.port).value();
    EXPECT_TRUE(media::append_pcap_udp(
        out,
        TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(p.at))),
        from, to, p.datagram));
  }
  return std::string(out.begin(), out.end());
}

// Decodes an Ogg/Opus file (opusfile: an independent reader) to 48 kHz mono.
std::vector<float> decode(const std::string& ogg) {
  int err = 0;
  OggOpusFile* f =
      op_open_memory(reinterpret_cast<const unsigned char*>(ogg.data()), ogg.size(), &err);
  EXPECT_TRUE(f) << "opusfile error " << err;
  std::vector<float> out;
  if (!f) return out;
  std::vector<float> buf(11520);
  int n;
  while ((n = op_read_float(f, buf.data(), static_cast<int>(buf.size()), nullptr)) > 0) {
    out.insert(out.end(), buf.begin(), buf.begin() + n);  // mono
  }
  op_free(f);
  return out;
}

// Power of `hz` in [from, to) seconds (Goertzel) relative to the window's whole power: near 1
// for a clean tone, near 0 for another frequency; and the RMS (0..1 full scale).
struct Window {
  double share = 0, rms = 0;
};
Window measure(const std::vector<float>& x, double hz, double from, double to) {
  const auto a = static_cast<size_t>(from * 48000),
             b = std::min(x.size(), static_cast<size_t>(to * 48000));
  if (a >= b) return {};
  const double w = 2 * M_PI * hz / 48000, c = 2 * std::cos(w);
  double s1 = 0, s2 = 0, energy = 0;
  for (size_t i = a; i < b; ++i) {
    const double s0 = x[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += static_cast<double>(x[i]) * x[i];
  }
  const double n = static_cast<double>(b - a);
  const double power = (s1 * s1 + s2 * s2 - c * s1 * s2) * 2 / n;
  return {energy > 0 ? power / energy : 0, std::sqrt(energy / n)};
}

// The first sample (in seconds) from `from` on whose magnitude exceeds `level`.
double onset(const std::vector<float>& x, double from, float level = 0.05f) {
  for (size_t i = static_cast<size_t>(from * 48000); i < x.size(); ++i) {
    if (std::fabs(x[i]) > level) return static_cast<double>(i) / 48000;
  }
  return -1;
}

json catalog() {
  return {{"media",
           {{{"label", "1"}, {"port", 20000}, {"payloads", {{"0", "PCMU/8000"}}}},
            {{"label", "2"}, {"port", 20002}, {"payloads", {{"111", "opus/48000/2"}}}}}},
          {"participants",
           {{{"id", "p1"},
             {"aor", "sip:alice@example.com"},
             {"name", "Alice"},
             {"sendsOnLabels", {"1"}}},
            {{"id", "p2"}, {"aor", "sip:bob@example.com"}, {"sendsOnLabels", {"2"}}}}}};
}

TEST(Playback, EachParticipantOnOneTimelineWithSilenceForGaps) {
  std::vector<Packet> packets;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> jitter(0, 30 * kMs);
  // Alice: 440 Hz PCMU from 0 to 2 s, sequence numbers across the wrap, packets 50..59
  // (1.0-1.2 s) lost, some duplicated, arrival jittered by up to 30 ms (so reordered).
  for (int i = 0; i < 100; ++i) {
    if (i >= 50 && i < 60) continue;
    Packet p{kT0 + i * 20 * kMs + (i ? jitter(rng) : 0), 20000,
             rtp_packet(static_cast<uint16_t>(65500 + i), 1000 + i * 160, 0xa11ce, 0,
                        pcmu(440, i * 160))};
    packets.push_back(p);
    if (i % 17 == 0) packets.push_back(p);
  }
  // Bob: 1 kHz Opus (48 kHz) from 1 s to 3 s.
  int err = 0;
  OpusEncoder* enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  ASSERT_TRUE(enc);
  for (int i = 0; i < 100; ++i) {
    std::vector<int16_t> pcm(960);
    for (int k = 0; k < 960; ++k) pcm[k] = static_cast<int16_t>(tone(1000, i * 960 + k, 48000));
    std::vector<uint8_t> out(1500);
    const int n =
        opus_encode(enc, pcm.data(), 960, out.data(), static_cast<opus_int32>(out.size()));
    ASSERT_GT(n, 0);
    out.resize(static_cast<size_t>(n));
    packets.push_back({kT0 + 1000 * kMs + i * 20 * kMs + jitter(rng), 20002,
                       rtp_packet(static_cast<uint16_t>(i), 777 + i * 960, 0xb0b, 111, out)});
  }
  opus_encoder_destroy(enc);
  std::stable_sort(packets.begin(), packets.end(),
                   [](const Packet& a, const Packet& b) { return a.at < b.at; });
  const std::string file = pcap(packets);

  PlaybackBuilder b(catalog(), "rec-1");
  for (size_t at = 0; at < file.size(); at += 1000) {  // in pieces, as the archive hands them out
    const auto piece = std::string_view(file).substr(at, 1000);
    ASSERT_TRUE(b.feed(std::span(reinterpret_cast<const uint8_t*>(piece.data()), piece.size())));
  }
  auto r = b.build();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r.value().tracks.size(), 2u);
  EXPECT_EQ(r.value().timeline_start_ns, kT0);
  EXPECT_NEAR(r.value().duration_s, 3.0, 0.04);
  const auto& alice = r.value().tracks[0];
  const auto& bob = r.value().tracks[1];
  EXPECT_EQ(alice.name, "Alice <sip:alice@example.com>");
  EXPECT_EQ(alice.sample_rate, 8000);
  EXPECT_EQ(alice.packets, 90u);  // duplicates dropped
  EXPECT_EQ(bob.name, "sip:bob@example.com");
  EXPECT_EQ(bob.sample_rate, 48000);
  EXPECT_EQ(bob.packets, 100u);

  const auto a = decode(alice.ogg), o = decode(bob.ogg);
  EXPECT_NEAR(static_cast<double>(a.size()) / 48000, 3.0, 0.04);  // the same timeline
  EXPECT_NEAR(static_cast<double>(o.size()) / 48000, 3.0, 0.04);
  // Alice: her tone where she spoke, silence where packets were lost and after she stopped.
  EXPECT_GT(measure(a, 440, 0.1, 0.95).share, 0.9);
  EXPECT_GT(measure(a, 440, 1.25, 1.95).share, 0.9);
  EXPECT_GT(measure(a, 440, 0.1, 0.95).rms, 0.1);
  EXPECT_LT(measure(a, 440, 1.03, 1.17).rms, 0.01);
  EXPECT_LT(measure(a, 440, 2.1, 2.95).rms, 0.01);
  // Bob: silence before he spoke, his tone from 1 s on (within 10 ms).
  EXPECT_LT(measure(o, 1000, 0.0, 0.95).rms, 0.01);
  EXPECT_NEAR(onset(o, 0.0), 1.0, 0.01);
  EXPECT_GT(measure(o, 1000, 1.1, 2.9).share, 0.9);
  EXPECT_GT(measure(o, 1000, 1.1, 2.9).rms, 0.1);
}

TEST(Playback, AnSsrcChangeWithATimestampJumpStaysOnTheTimeline) {
  std::vector<Packet> packets;
  for (int i = 0; i < 50; ++i)  // 0-1 s, SSRC 1
    packets.push_back({kT0 + i * 20 * kMs, 20000,
                       rtp_packet(static_cast<uint16_t>(i), static_cast<uint32_t>(i * 160), 1, 0,
                                  pcmu(440, i * 160))});
  for (int i = 0; i < 50; ++i)  // 1.5-2.5 s, SSRC 2 with an unrelated timestamp base
    packets.push_back(
        {kT0 + 1500 * kMs + i * 20 * kMs, 20000,
         rtp_packet(static_cast<uint16_t>(9000 + i),
                    4'000'000'000u + static_cast<uint32_t>(i * 160), 2, 0, pcmu(440, i * 160))});
  packets.push_back({kT0 + 2600 * kMs, 20001, {0x81, 200, 0, 1, 0, 0, 0, 1}});  // RTCP: ignored
  const std::string file = pcap(packets);
  PlaybackBuilder b(
      json{{"media", {{{"label", "main"}, {"port", 20000}, {"payloads", {{"0", "PCMU/8000"}}}}}}});
  ASSERT_TRUE(b.feed(std::span(reinterpret_cast<const uint8_t*>(file.data()), file.size())));
  auto r = b.build();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r.value().tracks.size(), 1u);  // no participants named: a file per stream
  EXPECT_EQ(r.value().tracks[0].name, "stream main");
  EXPECT_EQ(r.value().unknown_port, 0u);
  const auto x = decode(r.value().tracks[0].ogg);
  EXPECT_NEAR(static_cast<double>(x.size()) / 48000, 2.5, 0.03);
  EXPECT_GT(measure(x, 440, 0.1, 0.95).share, 0.9);
  EXPECT_LT(measure(x, 440, 1.05, 1.45).rms, 0.01);
  EXPECT_NEAR(onset(x, 1.1), 1.5, 0.01);
}

TEST(Playback, AnInterruptedEvidenceAndUndecodableCodecs) {
  std::vector<Packet> packets;
  for (int i = 0; i < 50; ++i) {
    packets.push_back({kT0 + i * 20 * kMs, 20000,
                       rtp_packet(static_cast<uint16_t>(i), static_cast<uint32_t>(i * 160), 1, 0,
                                  pcmu(440, i * 160))});
    packets.push_back(
        {kT0 + i * 20 * kMs, 20002,
         rtp_packet(static_cast<uint16_t>(i), static_cast<uint32_t>(i * 160), 2, 18,
                    std::vector<uint8_t>(20, 0x55))});  // G.729: kept as evidence only
    packets.push_back(
        {kT0 + i * 20 * kMs, 30000,
         rtp_packet(static_cast<uint16_t>(i), static_cast<uint32_t>(i * 160), 3, 0, pcmu(440, 0))});
  }
  std::string file = pcap(packets);
  file.resize(file.size() - 50);  // the crash cut the last record short
  json c = catalog();
  c["media"][1]["payloads"] = {{"18", "G729/8000"}};
  PlaybackBuilder b(c);
  ASSERT_TRUE(b.feed(std::span(reinterpret_cast<const uint8_t*>(file.data()), file.size())));
  auto r = b.build();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r.value().tracks.size(), 1u);
  EXPECT_EQ(r.value().tracks[0].packets, 50u);
  EXPECT_GT(r.value().truncated_bytes, 0u);
  EXPECT_EQ(r.value().unknown_port, 49u);
  EXPECT_EQ(r.value().without_audio, std::vector<std::string>{"sip:bob@example.com"});
  // Garbage is an error that says where.
  PlaybackBuilder g(c);
  std::vector<uint8_t> junk(64, 0x42);
  auto st = g.feed(junk);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("not a pcap file"), std::string::npos);
}

}  // namespace
}  // namespace verbatim::recorder
