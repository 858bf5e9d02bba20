// A meeting's audio on the gateway (media/conference_mix.h): the cost of one 20 ms tick for N
// members talking at once, each one packet in (jitter buffer, decode, resample to 16 kHz) and
// one mix-minus packet out (resample, encode in the member's codec). Against a naive peer in the
// same run that does the same codec work but mixes each member's output by summing every other
// member again (N² additions, what a first mixer does), so the ratio shows what the one shared
// sum saves as meetings grow. The figure is members per core: member-ticks per CPU second / 50.
// The published peer for meetings is Janus's AudioBridge (issue 19); it is not run here yet.
#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>

#include "media/audio.h"
#include "media/conference_mix.h"

namespace {

using namespace verbatim::media;  // NOLINT(google-build-using-namespace)
constexpr int kPackets = 250;     // 5 s of each member's speech, sent round and round

const std::vector<std::vector<uint8_t>>& talk(const std::string& codec, int member) {
  static std::map<std::pair<std::string, int>, std::vector<std::vector<uint8_t>>> cache;
  auto& frames = cache[{codec, member % 8}];
  if (frames.empty()) {
    std::vector<int16_t> pcm(size_t{16000} * kPackets / 50);
    for (size_t i = 0; i < pcm.size(); ++i) {
      pcm[i] = static_cast<int16_t>(
          4000 * std::sin(2 * std::numbers::pi * (200 + 90 * (member % 8)) * double(i) / 16000));
    }
    frames = encode_frames(codec, pcm, 16000).value();
  }
  return frames;
}

void run(benchmark::State& state, const std::string& codec, bool naive) {
  const auto members = static_cast<uint64_t>(state.range(0));
  ConferenceMix mix;
  std::vector<std::unique_ptr<AudioDecoder>> decoders;
  std::vector<std::unique_ptr<AudioEncoder>> encoders;
  for (uint64_t m = 0; m < members; ++m) {
    (void)mix.add(m, codec);
    decoders.push_back(make_decoder(codec).value());
    encoders.push_back(make_encoder(codec).value());
  }
  std::vector<ConferenceMix::Output> out;
  std::vector<std::vector<int16_t>> pcm(members);
  std::vector<int16_t> mixed;
  std::vector<uint8_t> payload;
  uint64_t tick = 0;
  for (auto _ : state) {
    const auto at = static_cast<size_t>(tick % kPackets);
    if (!naive) {
      for (uint64_t m = 0; m < members; ++m) {
        mix.receive(m, static_cast<uint16_t>(tick), talk(codec, static_cast<int>(m))[at]);
      }
      mix.tick(out);
      benchmark::DoNotOptimize(out.data());
    } else {
      // The same decoding and encoding (at the codec's own rate, no jitter buffer, no
      // resampling: less work than ours), summing the others for each member.
      for (uint64_t m = 0; m < members; ++m) {
        pcm[m].clear();
        (void)decoders[m]->decode(talk(codec, static_cast<int>(m))[at], pcm[m]);
      }
      for (uint64_t m = 0; m < members; ++m) {
        mixed.assign(pcm[m].size(), 0);
        for (size_t i = 0; i < mixed.size(); ++i) {
          int32_t sum = 0;
          for (uint64_t o = 0; o < members; ++o) {
            if (o != m && i < pcm[o].size()) sum += pcm[o][i];
          }
          mixed[i] = static_cast<int16_t>(std::clamp(sum, -32768, 32767));
        }
        (void)encoders[m]->encode(mixed, payload);
        benchmark::DoNotOptimize(payload.data());
      }
    }
    ++tick;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(members));
  state.counters["members_per_core"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(members) / 50.0,
      benchmark::Counter::kIsRate);
}

void BM_Mix_PCMU(benchmark::State& s) { run(s, "PCMU", false); }
void BM_Naive_PCMU(benchmark::State& s) { run(s, "PCMU", true); }
void BM_Mix_Opus(benchmark::State& s) { run(s, "opus", false); }
void BM_Naive_Opus(benchmark::State& s) { run(s, "opus", true); }
BENCHMARK(BM_Mix_PCMU)->Arg(3)->Arg(10)->Arg(50)->Arg(200);
BENCHMARK(BM_Naive_PCMU)->Arg(3)->Arg(10)->Arg(50)->Arg(200);
BENCHMARK(BM_Mix_Opus)->Arg(3)->Arg(10)->Arg(50);
BENCHMARK(BM_Naive_Opus)->Arg(3)->Arg(10)->Arg(50);

}  // namespace

BENCHMARK_MAIN();
