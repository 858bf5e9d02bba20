// Live listening's cost per listener (media/live_mix.h): a 60 s two-party G.711 call's evidence
// fed to a LiveMix (pcap parsing, RTP, decoding, 8 -> 16 kHz resampling, mixing on the call's
// clock, 20 ms Opus frames at 16 kHz), against a naive peer in the same run that decodes one
// stream's payloads and encodes them to Opus at 8 kHz with nothing else (no pcap, no second
// stream, no resampling, no timeline). The figure is call seconds served per CPU second: how
// many listeners one core keeps up with in real time.
#include <benchmark/benchmark.h>
#include <opus/opus.h>

#include <cmath>
#include <numbers>

#include "media/audio.h"
#include "media/live_mix.h"
#include "media/pcap.h"

namespace {

using namespace verbatim::media;  // NOLINT(google-build-using-namespace)
constexpr int kSeconds = 60;
constexpr int64_t kT0 = int64_t{1'800'000'000} * 1'000'000'000;

struct Call {
  std::vector<uint8_t> pcap;
  std::vector<std::vector<uint8_t>> payloads;  // stream 1's
};

const Call& call() {
  static const Call c = [] {
    Call out;
    out.pcap = pcap_file_header();
    const auto from = UdpEndpoint::parse("192.0.2.10", 40000).value();
    for (int s = 0; s < 2; ++s) {
      std::vector<int16_t> pcm(size_t{8000} * kSeconds);
      for (size_t i = 0; i < pcm.size(); ++i) {
        pcm[i] = static_cast<int16_t>(
            6000 * std::sin(2 * std::numbers::pi * (300 + 200 * s) * double(i) / 8000));
      }
      auto frames = encode_frames("PCMU", pcm, 8000).value();
      const auto to = UdpEndpoint::parse("192.0.2.1", static_cast<uint16_t>(7400 + 2 * s)).value();
      for (size_t i = 0; i < frames.size(); ++i) {
        std::vector<uint8_t> rtp = {
            0x80, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 0, 0, 0, 0, 0,
            0,    0, static_cast<uint8_t>(s + 1)};
        rtp.insert(rtp.end(), frames[i].begin(), frames[i].end());
        const auto at = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(kT0 + int64_t(i) * 20'000'000 + s * 7'000'000)));
        (void)append_pcap_udp(out.pcap, at, from, to, rtp);
        if (s == 0) out.payloads.push_back(frames[i]);
      }
    }
    return out;
  }();
  return c;
}

void BM_LiveMix(benchmark::State& state) {
  const Call& c = call();
  const std::vector<LiveStream> streams = {{"1", 7400, {{0, "PCMU/8000"}}},
                                           {"2", 7402, {{0, "PCMU/8000"}}}};
  size_t frames = 0;
  for (auto _ : state) {
    auto mix = LiveMix::create(streams, kT0, std::chrono::milliseconds(1200)).value();
    // As a listener gets it: a second of evidence at a time, then what is due.
    const size_t per = c.pcap.size() / kSeconds + 1;
    for (size_t at = 0, s = 1; at < c.pcap.size(); at += per, ++s) {
      (void)mix->feed(std::span(c.pcap).subspan(at, std::min(per, c.pcap.size() - at)));
      frames += mix->frames(kT0 + int64_t(s) * 1'000'000'000).value().size();
    }
  }
  state.counters["call_s_per_cpu_s"] = benchmark::Counter(
      double(kSeconds) * double(state.iterations()), benchmark::Counter::kIsRate);
  benchmark::DoNotOptimize(frames);
}
BENCHMARK(BM_LiveMix)->Unit(benchmark::kMillisecond);

void BM_NaiveDecodeEncode(benchmark::State& state) {
  const Call& c = call();
  for (auto _ : state) {
    auto dec = make_decoder("PCMU").value();
    int err = 0;
    OpusEncoder* enc = opus_encoder_create(8000, 1, OPUS_APPLICATION_VOIP, &err);
    std::vector<int16_t> pcm;
    std::array<uint8_t, 400> out{};
    for (const auto& p : c.payloads) {
      pcm.clear();
      (void)dec->decode(p, pcm);
      benchmark::DoNotOptimize(
          opus_encode(enc, pcm.data(), static_cast<int>(pcm.size()), out.data(), 400));
    }
    opus_encoder_destroy(enc);
  }
  state.counters["call_s_per_cpu_s"] = benchmark::Counter(
      double(kSeconds) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NaiveDecodeEncode)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
