// The playback job's cost: a 60 s two-party G.711 call's evidence (1 % loss, some reordering)
// turned into two Ogg/Opus files on one timeline (recorder/playback.h), against a naive
// baseline in the same run that only decodes the payloads in arrival order and encodes them
// (no reading of the pcap, no ordering, no timeline, no silence). The figure that matters is
// audio seconds made per CPU second: how many speaker tracks one core keeps up with in real
// time (design.md estimates ~60 for libopus at complexity 10).
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "common/clock.h"
#include "media/audio.h"
#include "media/pcap.h"
#include "recorder/playback.h"

namespace {

using verbatim::TimePoint;
constexpr int kSeconds = 60;

uint8_t ulaw(int sample) {  // G.711 µ-law (the bench makes its own input)
  const int sign = sample < 0 ? 0x80 : 0;
  int s = std::min(std::abs(sample), 32635) + 0x84;
  int exponent = 7;
  for (int mask = 0x4000; exponent > 0 && !(s & mask); mask >>= 1) --exponent;
  return static_cast<uint8_t>(~(sign | exponent << 4 | ((s >> (exponent + 3)) & 0x0f)));
}

struct Call {
  std::vector<uint8_t> pcap;
  std::vector<std::vector<uint8_t>> payloads;  // arrival order, both streams
};

const Call& call() {
  static const Call c = [] {
    Call out;
    out.pcap = verbatim::media::pcap_file_header();
    std::mt19937 rng(3);
    auto from = verbatim::media::UdpEndpoint::parse("192.0.2.10", 40000).value();
    const int64_t t0 = int64_t{1'800'000'000} * 1'000'000'000;
    struct P {
      int64_t at;
      uint16_t port;
      std::vector<uint8_t> rtp, payload;
    };
    std::vector<P> ps;
    for (int s = 0; s < 2; ++s) {
      for (int i = 0; i < kSeconds * 50; ++i) {
        if (rng() % 100 == 0) continue;  // 1 % loss
        std::vector<uint8_t> payload(160);
        for (int k = 0; k < 160; ++k) {  // a voice-like signal: harmonics with a slow envelope
          const double t = (i * 160 + k) / 8000.0;
          const double env = 0.5 + 0.5 * std::sin(2 * M_PI * 0.7 * t + s);
          payload[k] = ulaw(static_cast<int>(
              6000 * env *
              (std::sin(2 * M_PI * (180 + 60 * s) * t) + 0.5 * std::sin(2 * M_PI * 720 * t))));
        }
        std::vector<uint8_t> rtp = {0x80, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        const uint32_t ts = static_cast<uint32_t>(i * 160),
                       ssrc = 0x1000u + static_cast<uint32_t>(s);
        for (int sh : {24, 16, 8, 0}) rtp.push_back(static_cast<uint8_t>(ts >> sh));
        for (int sh : {24, 16, 8, 0}) rtp.push_back(static_cast<uint8_t>(ssrc >> sh));
        rtp.insert(rtp.end(), payload.begin(), payload.end());
        const int64_t jitter = static_cast<int64_t>(rng() % 40) * 1'000'000;  // reorders some
        ps.push_back({t0 + int64_t{i} * 20'000'000 + jitter, static_cast<uint16_t>(20000 + 2 * s),
                      rtp, payload});
      }
    }
    std::stable_sort(ps.begin(), ps.end(), [](const P& a, const P& b) { return a.at < b.at; });
    for (const auto& p : ps) {
      auto to = verbatim::media::UdpEndpoint::parse("192.0.2.1", p.port).value();
      (void)verbatim::media::append_pcap_udp(
          out.pcap,
          TimePoint(
              std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(p.at))),
          from, to, p.rtp);
      out.payloads.push_back(p.payload);
    }
    return out;
  }();
  return c;
}

const nlohmann::json& catalog() {
  static const nlohmann::json c = {
      {"media",
       {{{"label", "1"}, {"port", 20000}, {"payloads", {{"0", "PCMU/8000"}}}},
        {{"label", "2"}, {"port", 20002}, {"payloads", {{"0", "PCMU/8000"}}}}}},
      {"participants",
       {{{"id", "a"}, {"aor", "sip:alice@example.com"}, {"sendsOnLabels", {"1"}}},
        {{"id", "b"}, {"aor", "sip:bob@example.com"}, {"sendsOnLabels", {"2"}}}}}};
  return c;
}

void BM_PlaybackJob(benchmark::State& state) {
  const Call& c = call();
  size_t bytes = 0;
  for (auto _ : state) {
    verbatim::recorder::PlaybackBuilder b(catalog());
    if (!b.feed(c.pcap)) state.SkipWithError("feed");
    auto r = b.build();
    if (!r || r.value().tracks.size() != 2) state.SkipWithError("build");
    bytes = r.value().tracks[0].ogg.size() + r.value().tracks[1].ogg.size();
  }
  state.counters["audio_s_per_s"] =
      benchmark::Counter(2.0 * kSeconds, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ogg_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_PlaybackJob)->Unit(benchmark::kMillisecond)->MinTime(3);

// The naive baseline: decode every payload as it comes and encode, one encoder per stream.
void BM_NaiveDecodeEncode(benchmark::State& state) {
  const Call& c = call();
  for (auto _ : state) {
    std::vector<std::unique_ptr<verbatim::media::OggOpusWriter>> w;
    for (int s = 0; s < 2; ++s)
      w.push_back(verbatim::media::OggOpusWriter::create(8000, 40000, {}).value());
    auto dec = verbatim::media::make_decoder("PCMU").value();
    std::vector<int16_t> pcm;
    size_t i = 0;
    for (const auto& p : c.payloads) {
      pcm.clear();
      (void)dec->decode(p, pcm);
      (void)w[i++ % 2]->write(pcm);
    }
    for (auto& x : w) benchmark::DoNotOptimize(x->finish());
  }
  state.counters["audio_s_per_s"] =
      benchmark::Counter(2.0 * kSeconds, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_NaiveDecodeEncode)->Unit(benchmark::kMillisecond)->MinTime(3);

}  // namespace

BENCHMARK_MAIN();
